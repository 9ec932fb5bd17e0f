/**
 * The TCP server of one node: accepts clients (enforcing -c), wires each to a protocol handler over
 * the shared cache engine, closes idle clients (-o idle_timeout), and shuts down cleanly.
 */
import * as net from 'net';
import * as tls from 'tls';
import { defaultCrawlerSettings, ExpiryCrawler } from './cache/crawler';
import { LocalEngine } from './cache/engine';
import { sizesTracking } from './cache/size-histogram';
import type { ItemStore } from './cache/store';
import type { CacheEngine } from './cache/types';
import { Connection, ConnectionStats } from './connection';
import { newCommandCounters, ServerContext, StatsGroup } from './context';
import { protocolHandlers } from './handlers/protocol-choice';
import { cachedumpText } from './cachedump';
import { ClassStats } from './class-stats';
import { metadumpChunks } from './metadump';
import { PrefixStats } from './prefix-stats';
import type { Logger, LogLevel } from './log';
import { ConnInfo, ServerState, Settings, statsGroup } from './stats-report';
import { parseListenAddresses } from './listen-addresses';
import { clearStaleSocket, listenOnUnixSocket } from './unix-socket';
import { clientCertOptions, secureContextOptions, TlsSettings } from './tls-settings';
import { WatchedConn, WatchHub } from './watch';
import { WatchingEngine } from './watching-engine';

export const VERSION = '1.6.18-mucached-0.1.0';

/** memcached's answer when -c is reached, written before the connection is closed. */
const TOO_MANY_CONNECTIONS = Buffer.from('ERROR Too many open connections\r\n');

/**
 * An address and port as memcached's `stats conns` writes them: tcp:IP:PORT, or tcp6:[IP]:PORT.
 * memcached listens on IPv4 and IPv6 apart; a dual-stack listener here sees IPv4 clients as
 * ::ffff:a.b.c.d, which are named as memcached would name them.
 */
export function socketName(address: string | undefined, port: number | undefined): string {
  const ip = address ?? '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return `tcp:${mapped[1]}:${port}`;
  return ip.includes(':') ? `tcp6:[${ip}]:${port}` : `tcp:${ip}:${port}`;
}

/** A cluster node brings its replicated engine and its `stats mu` group. */
export interface ClusterHooks {
  /** `isPending`: a write in flight refers to the item stored under this id (the crawler leaves it). */
  engine: CacheEngine & { readonly store: ItemStore; isPending(id: string): boolean };
  muStats(): Array<[string, string]>;
  /** Plain reads wait for what this returns first (read-barrier.ts); undefined: read at once. */
  readBarrier?: () => Promise<void> | undefined;
}

export interface ServerOptions extends Settings {
  /** Bytes a slow reader may leave unread in our write buffer before we stop reading its input. */
  maxPendingWriteBytes?: number;
  /** Replies a connection may have pending (replicated writes) before we stop reading its input. */
  maxPendingReplies?: number;
  /** memcached's `-o idle_timeout`: close a client idle for longer than this; 0 = never. */
  idleTimeoutSec?: number;
}

/** A TLS handshake not done within this long (or -o idle_timeout, if shorter) ends the connection. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** How often idle clients are looked for, at most (memcached's timeout thread: about 1 s). */
const IDLE_SCAN_MAX_MS = 1000;

export class CacheServer {
  readonly counters = newCommandCounters();
  readonly engine: CacheEngine & { readonly store: ItemStore };
  readonly ctx: ServerContext;
  /** One per interface of -l (or the -s socket), all serving alike. */
  private readonly servers: net.Server[] = [];
  private readonly conns = new Set<Connection>();
  private readonly connStats: ConnectionStats = { bytesRead: 0, bytesWritten: 0 };
  private totalConnections = 0;
  private rejectedConnections = 0;
  /** Clients closed by idle_timeout (memcached's `idle_kicks`). */
  private idleKickCount = 0;
  private idleTimer?: NodeJS.Timeout;
  private readonly startedAtMs = Date.now();
  private readonly hooks?: ClusterHooks;
  private readonly prefixStats: PrefixStats;
  /** -Z: handshakes that failed (memcached's ssl_handshake_errors), and when certificates were loaded. */
  private tlsHandshakeErrors = 0;
  private tlsCertLoadedAtMs = Date.now();
  private readonly crawler: ExpiryCrawler;
  /** Per slab class evictions and -M refusals (stats items). */
  private readonly classStats = new ClassStats();
  /** `watch` log streams. */
  readonly watch: WatchHub;

  constructor(
    readonly settings: ServerOptions,
    private readonly log: Logger,
    cluster?: (counters: ReturnType<typeof newCommandCounters>, onOutOfMemory: (itemBytes: number) => void) => ClusterHooks,
  ) {
    const classStats = this.classStats;
    // The store's own classifier (the engine, and with it the store, is made just below).
    const onOutOfMemory = (bytes: number) => classStats.noteOutOfMemory(this.engine.store.classOf(bytes));
    this.hooks = cluster?.(this.counters, onOutOfMemory);
    this.engine = this.hooks?.engine ?? new LocalEngine({
      memoryLimitBytes: settings.memoryLimitBytes,
      itemSizeMaxBytes: settings.itemSizeMaxBytes,
      evictions: settings.evictions,
      casEnabled: settings.casEnabled,
      counters: this.counters,
      onOutOfMemory,
    });
    this.prefixStats = new PrefixStats(settings.prefixDelimiter);
    settings.crawler ??= defaultCrawlerSettings();
    const hooks = this.hooks;
    // -o track_sizes under -C: memcached cannot count without CAS uniques either (stats sizes says disabled).
    if (settings.trackSizes === true && this.engine.store.enableSizes() !== 'enabled') log.info('-o track_sizes: no item size histogram without CAS (-C)');
    this.crawler = new ExpiryCrawler(this.engine.store, settings.crawler, undefined,
      hooks ? (id) => hooks.engine.isPending(id) : undefined);
    this.watch = new WatchHub(this.engine.store);
    const watch = this.watch;
    this.engine.store.onEvict = (item) => {
      classStats.noteEviction(item, Math.floor(Date.now() / 1000));
      if (watch.on.evictions) watch.eviction(item);
    };
    this.ctx = this.makeContext(this.engine);
  }

  private newListener(): net.Server {
    if (this.settings.tls !== undefined) return this.tlsServer(this.settings.tls); // -c bounds its TCP count (see there)
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = Number.MAX_SAFE_INTEGER; // -c is enforced with memcached's error in accept()
    return server;
  }

  /**
   * -Z: clients are served once their handshake is done. A handshake that fails is counted and
   * its socket closed; under verify modes 1 and 3 a client certificate that was sent but does not
   * verify closes the connection too (mode 2 fails such a handshake, and one without a certificate).
   */
  private tlsServer(s: TlsSettings): tls.Server {
    const handshakeTimeout = Math.min(TLS_HANDSHAKE_TIMEOUT_MS, (this.settings.idleTimeoutSec ?? 0) > 0 ? this.settings.idleTimeoutSec! * 1000 : Infinity);
    const server = tls.createServer({ ...secureContextOptions(s), ...clientCertOptions(s), allowHalfOpen: true, noDelay: true, handshakeTimeout }, (socket) => {
      if (s.verifyMode !== 0 && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
        this.tlsHandshakeErrors++;
        this.log.verbose(`TLS client certificate refused: ${socket.authorizationError}`);
        socket.destroy();
        return;
      }
      this.accept(socket);
    });
    // A handshake that fails, times out or is dropped by the client ends here (a client that closes
    // mid-handshake is an error too).
    server.on('tlsClientError', (err, socket) => {
      this.tlsHandshakeErrors++;
      this.log.verbose(`TLS handshake failed: ${err.message}`);
      socket.destroy();
    });
    // Handshakes in progress hold memory and a socket each, and a client that never finishes one
    // never reaches accept(): -c bounds TCP connections from the accept on, handshakes included (a
    // refused one is closed unanswered: memcached's -c line would not be TLS). A handshake that
    // stalls, or whose client half-closed, ends after the handshake timeout.
    server.maxConnections = this.settings.maxConnections;
    server.on('drop', () => {
      this.totalConnections++;
      this.rejectedConnections++;
    });
    return server;
  }

  /** `refresh_certs`: new connections get the certificates the files hold now. */
  private refreshCerts(s: TlsSettings): { ok: boolean; line: string } {
    try {
      const context = secureContextOptions(s);
      for (const server of this.servers) (server as tls.Server).setSecureContext(context);
    } catch (err) {
      this.log.info(`refresh_certs failed, keeping the certificates in use: ${(err as Error).message}`);
      return { ok: false, line: `ERROR ${(err as Error).message}` };
    }
    this.tlsCertLoadedAtMs = Date.now();
    this.log.info('TLS certificates reloaded (refresh_certs)');
    return { ok: true, line: 'OK' };
  }

  get idleKicks(): number {
    return this.idleKickCount;
  }

  /**
   * memcached closes a client whose last command is more than idle_timeout seconds old, unless it
   * is still being answered. A slowloris client trickling bytes of a command that never completes
   * is idle by that measure: bytes alone do not count as a command.
   */
  private startIdleReaper(): void {
    const idleTimeoutSec = this.settings.idleTimeoutSec ?? 0;
    if (!(idleTimeoutSec > 0) || this.idleTimer) return;
    const limitMs = idleTimeoutSec * 1000;
    this.idleTimer = setInterval(() => {
      const nowMs = Date.now();
      for (const conn of this.conns) {
        if (conn.idleForMs(nowMs) <= limitMs) continue;
        this.idleKickCount++;
        this.log.debug(`conn ${conn.id}: closing idle connection (idle_timeout ${idleTimeoutSec} s)`);
        conn.destroy('idle_timeout');
      }
    }, Math.min(IDLE_SCAN_MAX_MS, Math.max(50, limitMs / 4)));
    this.idleTimer.unref();
  }

  private makeContext(engine: CacheEngine): ServerContext {
    return {
      engine,
      counters: this.counters,
      version: VERSION,
      maxKeyBytes: 250,
      prefixStats: this.prefixStats,
      ...(this.hooks?.readBarrier !== undefined ? { readBarrier: this.hooks.readBarrier } : {}),
      stats: (group: StatsGroup) =>
        group === 'mu' && this.hooks ? this.hooks.muStats() : statsGroup(group, this.counters, this.engine.store, this.settings, this.state()),
      resetStats: () => {
        Object.assign(this.counters, newCommandCounters());
        this.prefixStats.reset();
        this.engine.store.resetStats();
        this.crawler.resetStats();
        this.classStats.reset();
        this.totalConnections = 0;
        this.rejectedConnections = 0;
        this.idleKickCount = 0;
        this.connStats.bytesRead = 0;
        this.connStats.bytesWritten = 0;
      },
      flushDisabled: this.settings.flushEnabled === false,
      dumpDisabled: this.settings.dumpEnabled === false,
      watchDisabled: this.settings.watchEnabled === false,
      ...(this.settings.tls !== undefined ? { refreshCerts: () => this.refreshCerts(this.settings.tls!) } : {}),
      crawler: this.crawler,
      metadump: (classes, pause) => metadumpChunks(this.engine.store, classes, pause),
      cachedump: (classId, limit) => cachedumpText(this.engine.store, classId, limit),
      setSizesTracking: (on) => sizesTracking(this.engine.store, on),
      setMemoryLimit: (bytes: number) => {
        this.settings.memoryLimitBytes = bytes;
        engine.setMemoryLimit(bytes);
        this.log.info(`item memory limit set to ${bytes / (1024 * 1024)} MB (cache_memlimit)`);
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
      conns: [
        ...this.listenerInfo(nowMs),
        ...[...this.conns].map((c) => ({
          // memcached numbers connections by descriptor; ours where Node hides it.
          id: c.fd ?? c.id,
          addr: this.peerName(c.socket),
          listenAddr: this.localName(c.socket),
          state: c.stateName,
          secsSinceLastCmd: Math.floor((nowMs - c.lastCommandMs) / 1000),
        })),
      ],
      tlsHandshakeErrors: this.tlsHandshakeErrors,
      tlsCertLoadedAtMs: this.tlsCertLoadedAtMs,
      crawler: this.crawler.stats(),
      crawlerOf: (cls) => this.crawler.classStats(cls),
      classStats: this.classStats,
      detailEnabled: this.prefixStats.enabled,
      prefixDelimiter: this.prefixStats.delimiter,
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
    const watched = this.watchedConn(socket);
    // This client's own view of the engine, so that `watch` lines name its descriptor. Everything
    // else is the server's context itself (a prototype, not a copy: cli.ts sets `shutdown` and
    // `sasl` on it after construction).
    const ctx: ServerContext = Object.create(this.ctx, {
      engine: { value: new WatchingEngine(this.ctx.engine, this.watch, this.engine.store, watched.fd), enumerable: true },
    });
    const conn = new Connection(socket, {
      ...protocolHandlers(ctx, this.settings.bindingProtocol ?? 'auto', this.log),
      ctx,
      watch: { hub: this.watch, conn: watched },
      log: this.log,
      stats: this.connStats,
      maxPendingWriteBytes: this.settings.maxPendingWriteBytes ?? 4 * 1024 * 1024,
      maxPendingReplies: this.settings.maxPendingReplies,
      onClose: (c) => {
        this.conns.delete(c);
        if (this.watch.on.connevents) this.watch.connClose(watched, c.closeReason);
        this.log.debug(`conn ${c.id} closed`);
      },
    });
    this.conns.add(conn);
    if (this.watch.on.connevents) this.watch.connNew(watched);
    this.log.debug(`conn ${conn.id} new client connection from ${this.peerName(socket)}`);
  }

  /** A client as `watch connevents` names it: its descriptor (-1 where Node hides it), address and transport. */
  private watchedConn(socket: net.Socket): WatchedConn {
    type WithHandle = { _handle?: { fd?: number }; _parent?: WithHandle };
    const s = socket as unknown as WithHandle;
    const fd = s._handle?.fd ?? s._parent?._handle?.fd;
    const local = this.settings.unixSocket !== undefined;
    return {
      fd: typeof fd === 'number' && fd >= 0 ? fd : -1,
      remoteIp: local ? '' : socket.remoteAddress ?? '',
      remotePort: local ? 0 : socket.remotePort ?? 0,
      transport: local ? 'local' : 'tcp',
    };
  }

  /** A client's address as `stats conns` names it: tcp:IP:PORT, tcp6:[IP]:PORT, or unix:PATH for the -s socket. */
  private peerName(socket: net.Socket): string {
    return this.settings.unixSocket !== undefined ? `unix:${this.settings.unixSocket}` : socketName(socket.remoteAddress, socket.remotePort);
  }

  /** The end of the listener a client reached, as memcached's listen_addr names it. */
  private localName(socket: net.Socket): string {
    return this.settings.unixSocket !== undefined ? `unix:${this.settings.unixSocket}` : socketName(socket.localAddress, socket.localPort);
  }

  /** The listening sockets, as `stats conns` lists them first (their seconds count from the start, as memcached's do). */
  private listenerInfo(nowMs: number): ConnInfo[] {
    const out: ConnInfo[] = [];
    for (const server of this.servers) {
      const where = server.address();
      if (where === null) continue;
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
      out.push({
        id: typeof fd === 'number' && fd >= 0 ? fd : 0,
        addr: typeof where === 'string' ? `unix:${where}` : socketName(where.address, where.port),
        state: 'conn_listening',
        secsSinceLastCmd: Math.floor((nowMs - this.startedAtMs) / 1000),
      });
    }
    return out;
  }

  /** Listens on the TCP port, or on the UNIX socket (-s) instead; resolves with where, for the log. */
  async listen(): Promise<string> {
    const backlog = this.settings.tcpBacklog ?? 1024;
    const path = this.settings.unixSocket;
    if (path !== undefined) {
      await clearStaleSocket(path);
      const server = this.newListener();
      await listenOnUnixSocket(server, path, this.settings.unixMask ?? '700', backlog);
      this.servers.push(server);
      this.startBackgroundWork();
      return `unix:${path}`;
    }
    const where: string[] = [];
    for (const address of parseListenAddresses([this.settings.listenHost])) {
      const server = this.newListener();
      // -p 0 (any free port): every interface without its own port shares the first one's.
      const port = address.port ?? this.settings.port;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host: address.host, backlog }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        for (const s of this.servers.splice(0)) s.close();
        throw new Error(`${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}: ${(err as Error).message}`);
      }
      this.servers.push(server);
      const bound = server.address() as net.AddressInfo;
      if (address.port === undefined) this.settings.port = bound.port;
      where.push(bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    }
    this.startBackgroundWork();
    return where.join(', ');
  }

  /** Once serving: the idle reaper (-o idle_timeout) and the expiry crawler. */
  private startBackgroundWork(): void {
    this.startIdleReaper();
    this.crawler.start();
  }

  /** Stop accepting, close every client, resolve when the listener is closed. */
  close(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.crawler.stop();
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const conn of this.conns) conn.destroy();
    return Promise.all(closed).then(() => undefined);
  }
}
