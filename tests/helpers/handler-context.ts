/**
 * An in-process ServerContext over the real LocalEngine and stats report, and a sink that records
 * what a handler queues: for handler tests (ASCII and binary) that need no sockets.
 */
import { defaultCrawlerSettings, ExpiryCrawler } from '../../daemon/cache/crawler';
import { LocalEngine } from '../../daemon/cache/engine';
import type { CacheEngine, MaybePromise } from '../../daemon/cache/types';
import { newCommandCounters, ServerContext, StatsGroup } from '../../daemon/context';
import type { ReplySink } from '../../daemon/handlers/types';
import { cachedumpText } from '../../daemon/cachedump';
import { metadumpChunks } from '../../daemon/metadump';
import { sizesTracking } from '../../daemon/cache/size-histogram';
import { PrefixStats } from '../../daemon/prefix-stats';
import { Settings, statsGroup } from '../../daemon/stats-report';

export const ITEM_SIZE_MAX_BYTES = 1024 * 1024;

export function makeContext(wrap: (engine: LocalEngine) => CacheEngine = (e) => e): { ctx: ServerContext; local: LocalEngine; verbosity: number[] } {
  const counters = newCommandCounters();
  const local = new LocalEngine({ memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: ITEM_SIZE_MAX_BYTES, counters });
  const settings: Settings = {
    port: 0, listenHost: '127.0.0.1', memoryLimitBytes: 64 * 1024 * 1024, maxConnections: 1024,
    itemSizeMaxBytes: ITEM_SIZE_MAX_BYTES, threads: 1, verbosity: 0, crawler: defaultCrawlerSettings(),
  };
  // Not started: no automatic passes; `lru_crawler crawl` runs one on real timers.
  const crawler = new ExpiryCrawler(local.store, settings.crawler!);
  const verbosity: number[] = [];
  const prefixStats = new PrefixStats();
  const startedAtMs = Date.now();
  const ctx: ServerContext = {
    engine: wrap(local),
    counters,
    version: '1.6.18',
    maxKeyBytes: 250,
    prefixStats,
    crawler,
    metadump: (classes, pause) => metadumpChunks(local.store, classes, pause),
    cachedump: (classId, limit) => cachedumpText(local.store, classId, limit),
    stats: (group: StatsGroup) => statsGroup(group, counters, local.store, settings, {
      startedAtMs, version: '1.6.18', currConnections: 1, totalConnections: 1, rejectedConnections: 0,
      bytesRead: 0, bytesWritten: 0, conns: [], crawler: crawler.stats(), detailEnabled: prefixStats.enabled, prefixDelimiter: prefixStats.delimiter,
    }),
    resetStats: () => {
      Object.assign(counters, newCommandCounters());
      prefixStats.reset();
    },
    setVerbosity: (level) => verbosity.push(level),
    setSizesTracking: (on) => sizesTracking(local.store, on),
    setMemoryLimit: (bytes) => {
      settings.memoryLimitBytes = bytes;
      local.setMemoryLimit(bytes);
    },
  };
  return { ctx, local, verbosity };
}

/** Records replies in queue order; `settled()` awaits pending ones and concatenates them. */
export class RecordingSink implements ReplySink {
  readonly queued: MaybePromise<Buffer>[] = [];
  closeReason?: string;
  /** Replies queued after closeAfterReplies (a handler must not produce any). */
  lateReplies = 0;

  reply(bytes: MaybePromise<Buffer>): void {
    if (this.closeReason !== undefined) this.lateReplies++;
    this.queued.push(bytes);
  }

  closeAfterReplies(reason: string): void {
    this.closeReason ??= reason;
  }

  async settled(): Promise<Buffer> {
    return Buffer.concat(await Promise.all(this.queued));
  }

  async text(): Promise<string> {
    return (await this.settled()).toString('latin1');
  }
}
