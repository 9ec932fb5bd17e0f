/**
 * Per slab class counters that `stats items` reports and memcached-tool's display reads: evictions
 * (how many, how many had an expiry, how long since their last access, how many were never
 * fetched) and stores refused for memory (-M). Local to the node, like evictions themselves.
 */
import type { StoredItem } from './cache/store';

export interface ClassCounters {
  evicted: number;
  /** Evicted items that had an expiry time. */
  evictedNonzero: number;
  /** Seconds between the last access of the most recently evicted item and its eviction. */
  evictedTimeSec: number;
  evictedUnfetched: number;
  outOfMemory: number;
}

export class ClassStats {
  private readonly byClass = new Map<number, ClassCounters>();

  noteEviction(item: StoredItem, nowSec: number): void {
    const c = this.counters(item.cls);
    c.evicted++;
    if (item.exptimeSec !== 0) c.evictedNonzero++;
    c.evictedTimeSec = Math.max(0, nowSec - item.lastAccessSec);
    if (!item.fetched) c.evictedUnfetched++;
  }

  noteOutOfMemory(cls: number): void {
    this.counters(cls).outOfMemory++;
  }

  of(cls: number): ClassCounters | undefined {
    return this.byClass.get(cls);
  }

  reset(): void {
    this.byClass.clear();
  }

  private counters(cls: number): ClassCounters {
    let c = this.byClass.get(cls);
    if (c === undefined) {
      c = { evicted: 0, evictedNonzero: 0, evictedTimeSec: 0, evictedUnfetched: 0, outOfMemory: 0 };
      this.byClass.set(cls, c);
    }
    return c;
  }
}
