/**
 * An in-process ServerContext over the real LocalEngine, and a sink that records what the ASCII
 * handler queues, for handler tests without sockets.
 */
import { LocalEngine } from '../../daemon/cache/engine';
import type { CacheEngine, MaybePromise } from '../../daemon/cache/types';
import { newCommandCounters, ServerContext, StatsGroup } from '../../daemon/context';
import type { ReplySink } from '../../daemon/handlers/types';
import { Settings, statsGroup } from '../../daemon/stats-report';

export const ITEM_SIZE_MAX_BYTES = 1024 * 1024;

export function makeContext(wrap: (engine: LocalEngine) => CacheEngine = (e) => e): { ctx: ServerContext; verbosity: number[] } {
  const counters = newCommandCounters();
  const local = new LocalEngine({ memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: ITEM_SIZE_MAX_BYTES, counters });
  const settings: Settings = {
    port: 0, listenHost: '127.0.0.1', memoryLimitBytes: 64 * 1024 * 1024, maxConnections: 1024,
    itemSizeMaxBytes: ITEM_SIZE_MAX_BYTES, threads: 1, verbosity: 0,
  };
  const verbosity: number[] = [];
  const server = {
    startedAtMs: Date.now(), version: '1.6.18', currConnections: 1, totalConnections: 1, rejectedConnections: 0,
    bytesRead: 0, bytesWritten: 0, conns: [],
  };
  const ctx: ServerContext = {
    engine: wrap(local),
    counters,
    version: '1.6.18',
    maxKeyBytes: 250,
    stats: (group: StatsGroup) => statsGroup(group, counters, local.store, settings, server),
    resetStats: () => Object.assign(counters, newCommandCounters()),
    setVerbosity: (level) => verbosity.push(level),
  };
  return { ctx, verbosity };
}

export class RecordingSink implements ReplySink {
  readonly queued: MaybePromise<Buffer>[] = [];
  closeReason?: string;
  lateReplies = 0;

  reply(bytes: MaybePromise<Buffer>): void {
    if (this.closeReason !== undefined) this.lateReplies++;
    this.queued.push(bytes);
  }

  closeAfterReplies(reason: string): void {
    this.closeReason ??= reason;
  }

  async text(): Promise<string> {
    return Buffer.concat(await Promise.all(this.queued)).toString('latin1');
  }
}
