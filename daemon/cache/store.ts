/**
 * The item store: the replicated state machine (apply effects) plus the node-local parts that are
 * not replicated (LRU order, eviction under the memory limit, access metadata).
 *
 * Invariants:
 * - `usedBytes` is the sum of `itemBytes` over the items in `items`, and after every apply it is
 *   at most `memoryLimitBytes` (the least recently used items are evicted to make room).
 * - Map iteration order is LRU order: the first entry is the least recently used.
 * - `lastCas` is the highest CAS unique ever applied or consumed; CAS uniques come from effects.
 */
import type { Effect, PutEffect } from './effects';
import type { ItemView } from './types';

/** memcached's per-item header: sizeof(item) (48) + the 8-byte CAS. */
const ITEM_HEADER_BYTES = 56;

/**
 * Bytes an item costs, computed as memcached 1.6 does (header + key + NUL + 4-byte flags suffix when
 * flags != 0 + value + CRLF), so `-m` and `-I` mean what they mean for memcached.
 */
export function itemBytes(keyBytes: number, flags: number, valueBytes: number): number {
  return ITEM_HEADER_BYTES + keyBytes + 1 + (flags !== 0 ? 4 : 0) + valueBytes + 2;
}

export interface StoredItem {
  /** The key as a map id (latin1: one char per byte, so distinct keys never collide). */
  id: string;
  key: Buffer;
  value: Buffer;
  flags: number;
  exptimeSec: number;
  cas: bigint;
  storedAtSec: number;
  stale: boolean;
  keyBinary: boolean;
  // Node-local metadata below: never part of an effect.
  lastAccessSec: number;
  fetched: boolean;
  winTokenSent: boolean;
  bytes: number;
}

export type LookupMiss = 'missing' | 'expired' | 'flushed';

/** The item a put creates; `previous` is the item it replaces (a stale write-back keeps its token). */
export function itemFromPut(effect: PutEffect, id: string, nowSec: number, previous?: StoredItem): StoredItem {
  return {
    id,
    key: effect.key,
    value: effect.value,
    flags: effect.flags,
    exptimeSec: effect.exptimeSec,
    cas: effect.cas,
    storedAtSec: effect.storedAtSec,
    stale: effect.stale,
    keyBinary: effect.keyBinary,
    lastAccessSec: nowSec,
    fetched: false,
    winTokenSent: previous !== undefined && effect.stale && previous.winTokenSent,
    bytes: itemBytes(effect.key.length, effect.flags, effect.value.length),
  };
}

export interface StoreStats {
  currItems: number;
  totalItems: number;
  usedBytes: number;
  evictions: number;
  expiredUnfetched: number;
  evictedUnfetched: number;
  reclaimed: number;
}

export class ItemStore {
  private readonly items = new Map<string, StoredItem>();
  private usedBytes = 0;
  lastCas = 0n;
  /** Delayed flush_all: items stored at or before this second vanish once the clock reaches it. */
  private oldestLiveSec = 0;
  private totalItems = 0;
  private evictions = 0;
  private expiredUnfetched = 0;
  private evictedUnfetched = 0;
  private reclaimed = 0;

  constructor(
    public memoryLimitBytes: number,
    private readonly clockSec: () => number,
    private readonly onEvict?: (item: StoredItem) => void,
  ) {}

  /**
   * The live item for `key`, or why there is none. Expired and flushed items are removed here
   * (lazily, as memcached does). Does not touch LRU order.
   */
  lookup(key: Buffer): StoredItem | LookupMiss {
    const id = key.toString('latin1');
    const item = this.items.get(id);
    if (item === undefined) return 'missing';
    const gone = this.deadReason(item);
    if (gone === undefined) return item;
    if (gone === 'expired') {
      if (!item.fetched) this.expiredUnfetched++;
      this.reclaimed++;
    }
    this.remove(id, item);
    return gone;
  }

  /** Why `item` (stored here, or about to be) is no longer visible now, or undefined if it is. */
  deadReason(item: StoredItem): 'expired' | 'flushed' | undefined {
    const nowSec = this.clockSec();
    if (this.oldestLiveSec !== 0 && this.oldestLiveSec <= nowSec && item.storedAtSec <= this.oldestLiveSec) return 'flushed';
    if (item.exptimeSec !== 0 && item.exptimeSec <= nowSec) return 'expired';
    return undefined;
  }

  /** Record an access: LRU bump and access metadata (local only). */
  bump(item: StoredItem): void {
    this.items.delete(item.id);
    this.items.set(item.id, item);
    item.lastAccessSec = this.clockSec();
  }

  view(item: StoredItem): ItemView {
    return {
      key: item.key,
      value: item.value,
      flags: item.flags,
      exptimeSec: item.exptimeSec,
      cas: item.cas,
      lastAccessSec: item.lastAccessSec,
      fetchedBefore: item.fetched,
      stale: item.stale,
      winTokenSent: item.winTokenSent,
      keyBinary: item.keyBinary,
    };
  }

  /** Apply one decided effect. Deterministic given the effect sequence (modulo local eviction). */
  apply(effect: Effect): void {
    switch (effect.kind) {
      case 'put':
        this.put(effect);
        break;
      case 'delete': {
        const id = effect.key.toString('latin1');
        const item = this.items.get(id);
        if (item) this.remove(id, item);
        break;
      }
      case 'touch': {
        const item = this.items.get(effect.key.toString('latin1'));
        if (item) item.exptimeSec = effect.exptimeSec;
        break;
      }
      case 'invalidate': {
        const item = this.items.get(effect.key.toString('latin1'));
        if (item) {
          item.stale = true;
          item.winTokenSent = false;
          item.cas = effect.cas;
          if (effect.exptimeSec !== undefined) item.exptimeSec = effect.exptimeSec;
        }
        this.noteCas(effect.cas);
        break;
      }
      case 'flush':
        if (effect.immediate) {
          // memcached leaves flushed items for its background crawler to reclaim; dropping them at
          // once frees the memory now and reads the same to clients (get_flushed counts less).
          this.items.clear();
          this.usedBytes = 0;
          this.oldestLiveSec = 0;
        } else {
          this.oldestLiveSec = effect.oldestLiveSec;
        }
        this.noteCas(effect.cas);
        break;
    }
  }

  private put(effect: PutEffect): void {
    const id = effect.key.toString('latin1');
    const old = this.items.get(id);
    if (old) this.remove(id, old);
    const item = itemFromPut(effect, id, this.clockSec(), old);
    this.makeRoom(item.bytes);
    this.items.set(id, item);
    this.usedBytes += item.bytes;
    this.totalItems++;
    this.noteCas(effect.cas);
  }

  /** Evict least recently used items until `bytes` more fit under the limit. */
  private makeRoom(bytes: number): void {
    if (this.usedBytes + bytes <= this.memoryLimitBytes) return;
    for (const [id, item] of this.items) {
      if (this.usedBytes + bytes <= this.memoryLimitBytes) break;
      this.remove(id, item);
      this.evictions++;
      if (!item.fetched) this.evictedUnfetched++;
      this.onEvict?.(item);
    }
  }

  private remove(id: string, item: StoredItem): void {
    this.items.delete(id);
    this.usedBytes -= item.bytes;
  }

  private noteCas(cas: bigint): void {
    if (cas > this.lastCas) this.lastCas = cas;
  }

  stats(): StoreStats {
    return {
      currItems: this.items.size,
      totalItems: this.totalItems,
      usedBytes: this.usedBytes,
      evictions: this.evictions,
      expiredUnfetched: this.expiredUnfetched,
      evictedUnfetched: this.evictedUnfetched,
      reclaimed: this.reclaimed,
    };
  }

  resetStats(): void {
    this.totalItems = 0;
    this.evictions = 0;
    this.expiredUnfetched = 0;
    this.evictedUnfetched = 0;
    this.reclaimed = 0;
  }

  /** Drop everything before a snapshot is installed (state transfer). CAS numbering is kept. */
  reset(): void {
    this.items.clear();
    this.usedBytes = 0;
    this.oldestLiveSec = 0;
  }

  /** Every live item, for state transfer and `stats items`. */
  *entries(): IterableIterator<StoredItem> {
    yield* this.items.values();
  }
}
