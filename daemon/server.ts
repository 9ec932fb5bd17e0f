/**
 * The TCP server of one node: accepts clients (enforcing -c), wires each to a protocol handler over
 * the shared cache engine, and shuts down cleanly.
 */
import * as net from 'net';
import { LocalEngine } from './cache/engine';
import type { ItemStore } from './cache/store';
import type { CacheEngine } from './cache/types';
import { Connection, ConnectionStats } from './connection';
import { newCommandCounters, ServerContext, StatsGroup } from './context';
import { createAsciiHandler } from './handlers/ascii';
import { createBinaryHandler } from './handlers/binary';
import type { Logger, LogLevel } from './log';
import { ServerState, Settings, statsGroup } from './stats-report';

export const VERSION = '1.6.18-mucached-0.1.0';

/** memcached's answer when -c is reached, written before the connection is closed. */
const TOO_MANY_CONNECTIONS = Buffer.from('ERROR Too many open connections\r\n');

/** A cluster node brings its replicated engine and its `stats mu` group. */
export interface ClusterHooks {
  engine: CacheEngine & { readonly store: ItemStore };
  muStats(): Array<[string, string]>;
}

export interface ServerOptions extends Settings {
  /** Bytes a slow reader may leave unread in our write buffer before we stop reading its input. */
  maxPendingWriteBytes?: number;
}

export class CacheServer {
  readonly counters = newCommandCounters();
  readonly engine: CacheEngine & { readonly store: ItemStore };
  readonly ctx: ServerContext;
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();
  private readonly connStats: ConnectionStats = { bytesRead: 0, bytesWritten: 0 };
  private totalConnections = 0;
  private rejectedConnections = 0;
  private readonly startedAtMs = Date.now();
  private readonly hooks?: ClusterHooks;

  constructor(readonly settings: ServerOptions, private readonly log: Logger, cluster?: (counters: ReturnType<typeof newCommandCounters>) => ClusterHooks) {
    this.hooks = cluster?.(this.counters);
    this.engine = this.hooks?.engine ?? new LocalEngine({
      memoryLimitBytes: settings.memoryLimitBytes,
      itemSizeMaxBytes: settings.itemSizeMaxBytes,
      counters: this.counters,
    });
    this.ctx = this.makeContext(this.engine);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = Number.MAX_SAFE_INTEGER; // -c is enforced with memcached's error, below
  }

  private makeContext(engine: CacheEngine): ServerContext {
    return {
      engine,
      counters: this.counters,
      version: VERSION,
      maxKeyBytes: 250,
      stats: (group: StatsGroup) =>
        group === 'mu' && this.hooks ? this.hooks.muStats() : statsGroup(group, this.counters, this.engine.store, this.settings, this.state()),
      resetStats: () => {
        Object.assign(this.counters, newCommandCounters());
        this.engine.store.resetStats();
        this.totalConnections = 0;
        this.rejectedConnections = 0;
        this.connStats.bytesRead = 0;
        this.connStats.bytesWritten = 0;
      },
      setVerbosity: (level: number) => {
        this.settings.verbosity = level;
        this.log.verbosity = Math.max(0, Math.min(2, level)) as LogLevel;
      },
    };
  }

  private state(): ServerState {
    const nowMs = Date.now();
    return {
      startedAtMs: this.startedAtMs,
      version: VERSION,
      currConnections: this.conns.size,
      totalConnections: this.totalConnections,
      rejectedConnections: this.rejectedConnections,
      bytesRead: this.connStats.bytesRead,
      bytesWritten: this.connStats.bytesWritten,
      conns: [...this.conns].map((c) => ({
        id: c.id,
        remote: `${c.socket.remoteAddress}:${c.socket.remotePort}`,
        protocol: c.protocol,
        secsSinceLastCmd: Math.floor((nowMs - c.lastCommandMs) / 1000),
      })),
    };
  }

  private accept(socket: net.Socket): void {
    this.totalConnections++;
    if (this.conns.size >= this.settings.maxConnections) {
      this.rejectedConnections++;
      socket.on('error', () => undefined);
      socket.end(TOO_MANY_CONNECTIONS);
      socket.destroySoon();
      return;
    }
    const conn = new Connection(socket, {
      ascii: createAsciiHandler,
      binary: createBinaryHandler,
      ctx: this.ctx,
      log: this.log,
      stats: this.connStats,
      maxPendingWriteBytes: this.settings.maxPendingWriteBytes ?? 4 * 1024 * 1024,
      onClose: (c) => {
        this.conns.delete(c);
        this.log.debug(`conn ${c.id} closed`);
      },
    });
    this.conns.add(conn);
    this.log.debug(`conn ${conn.id} new client connection from ${socket.remoteAddress}:${socket.remotePort}`);
  }

  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.settings.port, host: this.settings.listenHost, backlog: 1024 }, () => {
        this.server.off('error', reject);
        const address = this.server.address() as net.AddressInfo;
        this.settings.port = address.port;
        resolve(address);
      });
    });
  }

  /** Stop accepting, close every client, resolve when the listener is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const conn of this.conns) conn.destroy();
    });
  }
}
