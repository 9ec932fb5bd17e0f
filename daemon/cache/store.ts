/**
 * The item store: the replicated state machine (apply effects) plus the node-local parts that are
 * not replicated (LRU order, eviction under the memory limit, access metadata).
 *
 * Invariants:
 * - `usedBytes` is the sum of `itemBytes` over the items in `items`, and after every apply it is
 *   at most `memoryLimitBytes` (the least recently used items are evicted to make room), unless
 *   cache_memlimit lowered the limit under -M (then nothing is evicted, and the decider refuses
 *   stores until deletes bring the items under it). The bound holds under -M otherwise: there the decider refuses a store that would not fit (hasRoomFor), but applying
 *   an effect never fails, since a replica cannot refuse what the log committed; a follower whose
 *   store differs a little from the leader's (local LRU, lazy expiry) evicts as without -M.
 * - An item is in `items` exactly when it is linked (`linked`) into the LRU list, which runs from
 *   `lruOldest` (evicted first) to `lruNewest`. The list, not the Map, holds the order, so a set
 *   or a hit moves pointers instead of deleting and re-inserting a Map entry: V8's hash maps keep
 *   deleted entries in their chains until a rehash, and that churn made every lookup slower.
 * - `lastCas` is the highest CAS unique ever applied or consumed; CAS uniques come from effects.
 */
import type { Effect, PutEffect } from './effects';
import { SizeHistogram } from './size-histogram';
import { MAX_SLAB_CLASS_ID } from './slab-classes';
import type { ItemView } from './types';

/** memcached's per-item header, sizeof(item). */
const ITEM_HEADER_BYTES = 48;
/** The CAS unique each item carries after its header; memcached leaves it out under -C. */
export const ITEM_CAS_BYTES = 8;

/** Bytes of CAS per item: none when CAS is disabled (-C). */
export function casBytesFor(casEnabled: boolean | undefined): number {
  return casEnabled === false ? 0 : ITEM_CAS_BYTES;
}

/**
 * Bytes an item costs, computed as memcached 1.6 does (header + CAS + key + NUL + 4-byte flags
 * suffix when flags != 0 + value + CRLF), so `-m` and `-I` mean what they mean for memcached.
 */
export function itemBytes(keyBytes: number, flags: number, valueBytes: number, casBytes = ITEM_CAS_BYTES): number {
  return ITEM_HEADER_BYTES + casBytes + keyBytes + 1 + (flags !== 0 ? 4 : 0) + valueBytes + 2;
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
  /** Its slab class (slab-classes.ts), set by the store that holds it (0 until stored). */
  cls: number;
  /** LRU neighbours, meaningful only while `linked` (node-local, never copied into another item). */
  older: StoredItem | null;
  newer: StoredItem | null;
  linked: boolean;
}

export type LookupMiss = 'missing' | 'expired' | 'flushed';

/**
 * The item a put creates; `previous` is the item it replaces (a stale write-back keeps its token).
 * `casBytes`: the store's (casBytesFor).
 */
export function itemFromPut(effect: PutEffect, id: string, nowSec: number, casBytes: number, previous?: StoredItem): StoredItem {
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
    bytes: itemBytes(effect.key.length, effect.flags, effect.value.length, casBytes),
    cls: 0,
    older: null,
    newer: null,
    linked: false,
  };
}

/** A changed copy of `item` that stands outside any LRU list (speculative state, pending-overlay.ts). */
export function changedItem(item: StoredItem, changes: Partial<StoredItem>): StoredItem {
  return { ...item, ...changes, older: null, newer: null, linked: false };
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
  private lruOldest: StoredItem | null = null;
  private lruNewest: StoredItem | null = null;
  private usedBytes = 0;
  lastCas = 0n;
  /** Delayed flush_all: items stored at or before this second vanish once the clock reaches it. */
  private oldestLiveSec = 0;
  private totalItems = 0;
  private evictions = 0;
  private expiredUnfetched = 0;
  private evictedUnfetched = 0;
  private reclaimed = 0;
  /** Counts applied effects that can leave a dead item behind (all but deletes): see hasRoomFor. */
  private changeCount = 0;
  /** hasRoomFor found nothing dead left to reclaim in this second, with changeCount at this value. */
  private sweptClean: { atSec: number; changeCount: number } | undefined;

  constructor(
    public memoryLimitBytes: number,
    private readonly clockSec: () => number,
    /**
     * The slab class of an item of so many bytes (slab-classes.ts: slabClassifier). Every stored
     * item carries its class, and the store keeps per-class counts as items come and go, so
     * `stats items` and `stats slabs` need not walk every item.
     */
    readonly classOf: (itemBytes: number) => number,
    /** casBytesFor(casEnabled): every item's size counts it. */
    readonly casBytes = ITEM_CAS_BYTES,
    /** Told of every eviction (watch evictions, stats items); settable after construction. */
    public onEvict?: (item: StoredItem) => void,
  ) {}

  /**
   * The clock by which dead items may be taken out (lookups, the crawler, room for -M), when it is
   * not the store's own: see `removable`. Reads still judge expiry by the store's clock.
   */
  removalClockSec?: () => number;

  /** Items and their bytes per class (index = class id). */
  private readonly classItems = new Float64Array(MAX_SLAB_CLASS_ID + 1);
  private readonly classBytes = new Float64Array(MAX_SLAB_CLASS_ID + 1);
  /** `reclaimed` and `expired_unfetched` per class (stats items), as the totals count them. */
  private readonly classReclaimed = new Float64Array(MAX_SLAB_CLASS_ID + 1);
  private readonly classExpiredUnfetched = new Float64Array(MAX_SLAB_CLASS_ID + 1);

  /** A class's share of `reclaimed` and `expired_unfetched` since the last stats reset. */
  classReclaims(cls: number): { reclaimed: number; expiredUnfetched: number } {
    return { reclaimed: this.classReclaimed[cls], expiredUnfetched: this.classExpiredUnfetched[cls] };
  }

  /** Classes that hold items, in order, with their count and bytes. */
  classTally(): Array<{ cls: number; count: number; bytes: number }> {
    const out: Array<{ cls: number; count: number; bytes: number }> = [];
    for (let cls = 1; cls <= MAX_SLAB_CLASS_ID; cls++) if (this.classItems[cls] > 0) out.push({ cls, count: this.classItems[cls], bytes: this.classBytes[cls] });
    return out;
  }

  /**
   * The last access of each class's least recently used item: walking from the LRU's old end, the
   * first item of a class met is that class's oldest (a hit moves an item to the new end). The walk
   * stops once every class asked for was met: usually after a few items, the whole store at worst.
   */
  oldestAccessByClass(classes: ReadonlySet<number>): Map<number, number> {
    const out = new Map<number, number>();
    for (let item = this.lruOldest; item !== null && out.size < classes.size; item = item.newer) {
      if (classes.has(item.cls) && !out.has(item.cls)) out.set(item.cls, item.lastAccessSec);
    }
    return out;
  }

  private tally(item: StoredItem, sign: 1 | -1): void {
    this.classItems[item.cls] += sign;
    this.classBytes[item.cls] += sign * item.bytes;
    if (this.sizes !== null) {
      if (sign > 0) this.sizes.added(item);
      else this.sizes.removed(item);
    }
  }

  /** `stats sizes`: the item size histogram while it is on (size-histogram.ts). */
  private sizes: SizeHistogram | null = null;

  /**
   * `stats sizes_enable` / `-o track_sizes`: counts the items stored from now on (memcached does
   * not count those already stored). Without CAS uniques it cannot tell them apart, and refuses.
   */
  enableSizes(): 'enabled' | 'cas_support_disabled' {
    if (this.casBytes === 0) return 'cas_support_disabled';
    this.sizes ??= new SizeHistogram(this.lastCas + 1n);
    return 'enabled';
  }

  disableSizes(): void {
    this.sizes = null;
  }

  /** The histogram's non-empty buckets, or null while it is off. */
  sizeBuckets(): Array<[number, number]> | null {
    return this.sizes?.buckets() ?? null;
  }

  /** A new item memory limit (cache_memlimit); `evictNow`: evict least recently used items down to it. */
  setMemoryLimit(bytes: number, evictNow: boolean): void {
    this.memoryLimitBytes = bytes;
    if (evictNow) this.makeRoom(0);
  }

  /**
   * The item a vivifying mg created was handed to its client with the win token, and counts as
   * fetched (memcached's mg marks it so: metadump says fetch=yes, eviction does not count it
   * unfetched). Access metadata, local to the node that answered.
   */
  markVivified(key: Buffer): void {
    const created = this.lookup(key);
    if (typeof created === 'string') return;
    created.winTokenSent = true;
    created.fetched = true;
  }

  /** Bytes the item stored under `id` takes (dead or alive), 0 if there is none. */
  bytesOf(id: string): number {
    return this.items.get(id)?.bytes ?? 0;
  }

  /**
   * Whether `bytes` more fit under the limit without evicting a live item (-M). Dead items (expired,
   * flushed) are taken out for room, oldest first, as memcached reclaims them before it would
   * evict; those `keep` names stay (a replicated leader's in-flight state refers to them).
   * A sweep that found nothing to take is not repeated within the same second unless an effect was
   * applied since: until then no item can have died, and a client retrying a refused store would
   * otherwise walk the whole store each time.
   */
  hasRoomFor(bytes: number, keep?: (id: string) => boolean): boolean {
    if (this.usedBytes + bytes <= this.memoryLimitBytes) return true;
    const nowSec = this.clockSec();
    if (this.sweptClean?.atSec === nowSec && this.sweptClean.changeCount === this.changeCount) return false;
    for (let item = this.lruOldest; item !== null && this.usedBytes + bytes > this.memoryLimitBytes;) {
      const next = item.newer;
      const gone = this.deadReason(item);
      if (gone !== undefined && !keep?.(item.id) && this.removable(item)) {
        if (gone === 'expired') this.countReclaimed(item);
        this.remove(item.id, item);
      }
      item = next;
    }
    if (this.usedBytes + bytes <= this.memoryLimitBytes) return true;
    this.sweptClean = { atSec: nowSec, changeCount: this.changeCount };
    return false;
  }

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
    if (this.removable(item)) {
      if (gone === 'expired') this.countReclaimed(item);
      this.remove(id, item);
    }
    return gone;
  }

  /** The clock a dead item's removal is judged by: the decisions' (removalClockSec) or, alone, this node's. */
  decisionClockSec(): number {
    return this.removalClockSec?.() ?? this.clockSec();
  }

  /**
   * Whether a dead item may be taken out now (it may be read as missing in any case). With a
   * `removalClockSec` (a replicated follower: the time of the latest decision it applied), only once
   * it is dead by that clock too: a touch the leader decided while the item was alive may still be
   * on its way, and it must find the item to keep the replicas alike.
   */
  private removable(item: StoredItem): boolean {
    return this.removalClockSec === undefined || this.deadReasonAt(item, this.removalClockSec()) !== undefined;
  }

  /** What a lookup of `key` would find now, without taking a dead item out or touching LRU order. */
  peek(key: Buffer): StoredItem | LookupMiss {
    const item = this.items.get(key.toString('latin1'));
    if (item === undefined) return 'missing';
    return this.deadReason(item) ?? item;
  }

  /** Why `item` (stored here, or about to be) is no longer visible now, or undefined if it is. */
  deadReason(item: StoredItem): 'expired' | 'flushed' | undefined {
    return this.deadReasonAt(item, this.clockSec());
  }

  /** The same at `nowSec` (a walk over many items reads the clock once). */
  deadReasonAt(item: StoredItem, nowSec: number): 'expired' | 'flushed' | undefined {
    if (this.oldestLiveSec !== 0 && this.oldestLiveSec <= nowSec && item.storedAtSec <= this.oldestLiveSec) return 'flushed';
    if (item.exptimeSec !== 0 && item.exptimeSec <= nowSec) return 'expired';
    return undefined;
  }

  /** Record an access: LRU bump and access metadata (local only). An item no longer stored stays out. */
  bump(item: StoredItem): void {
    if (item.linked && item !== this.lruNewest) {
      this.unlink(item);
      this.link(item);
    }
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

  /**
   * Apply one decided effect. Deterministic given the effect sequence (modulo local eviction).
   * `id`: the key's map id (latin1), when the caller made it already (a string whose hash V8 has
   * computed is cheaper to look up again than a new one).
   */
  apply(effect: Effect, id?: string): void {
    if (effect.kind !== 'delete') this.changeCount++;
    switch (effect.kind) {
      case 'put':
        this.put(effect, id ?? effect.key.toString('latin1'));
        break;
      case 'delete': {
        const keyId = id ?? effect.key.toString('latin1');
        const item = this.items.get(keyId);
        if (item) this.remove(keyId, item);
        break;
      }
      case 'touch': {
        const item = this.items.get(id ?? effect.key.toString('latin1'));
        if (item) item.exptimeSec = effect.exptimeSec;
        break;
      }
      case 'invalidate': {
        const item = this.items.get(id ?? effect.key.toString('latin1'));
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
          this.clearItems();
          this.oldestLiveSec = 0;
        } else {
          this.oldestLiveSec = effect.oldestLiveSec;
        }
        this.noteCas(effect.cas);
        break;
    }
  }

  private put(effect: PutEffect, id: string): void {
    const old = this.items.get(id);
    const nowSec = this.clockSec();
    const item = itemFromPut(effect, id, nowSec, this.casBytes, old);
    if (old) {
      // A plain set decides without looking the key up, so an expired item it replaces is counted
      // here, as a lookup would have counted it.
      if (this.deadReasonAt(old, nowSec) === 'expired') this.countReclaimed(old);
      // The Map entry stays and is overwritten below (no delete/insert churn); makeRoom only
      // walks linked items, so it cannot meet `old`.
      this.unlink(old);
      this.usedBytes -= old.bytes;
    }
    this.makeRoom(item.bytes);
    this.items.set(id, item);
    this.link(item);
    this.usedBytes += item.bytes;
    if (old) this.tally(old, -1);
    item.cls = this.classOf(item.bytes);
    this.tally(item, 1);
    this.totalItems++;
    this.noteCas(effect.cas);
  }

  /**
   * Every stored item, for the expiry crawler (crawler.ts): the Map's own iterator, which stays valid
   * while the store changes between the crawler's steps (removed items are skipped, items replaced in
   * place keep their position, new keys come at the end), so a walk meets each key at most once.
   */
  crawlItems(): IterableIterator<StoredItem> {
    return this.items.values();
  }

  /**
   * The crawler met `item`: if it is still stored and it is dead at `nowSec` (expired or flushed),
   * take it out and say why; otherwise leave it. memcached counts these apart from the
   * lazy `reclaimed` (the crawler keeps its own count), but an unfetched expired item counts in
   * expired_unfetched either way.
   */
  reclaimIfDead(item: StoredItem, nowSec: number): 'expired' | 'flushed' | undefined {
    // Linked exactly while stored (an item replaced or removed since the walk met it is unlinked).
    if (!item.linked) return undefined;
    const gone = this.deadReasonAt(item, nowSec);
    if (gone === undefined || !this.removable(item)) return undefined;
    if (gone === 'expired' && !item.fetched) {
      this.expiredUnfetched++;
      this.classExpiredUnfetched[item.cls]++;
    }
    this.remove(item.id, item);
    return gone;
  }

  /** An expired item is taken out (by a lookup, or replaced by a set). */
  private countReclaimed(item: StoredItem): void {
    if (!item.fetched) {
      this.expiredUnfetched++;
      this.classExpiredUnfetched[item.cls]++;
    }
    this.reclaimed++;
    this.classReclaimed[item.cls]++;
  }

  /** Evict least recently used items until `bytes` more fit under the limit. */
  private makeRoom(bytes: number): void {
    while (this.usedBytes + bytes > this.memoryLimitBytes && this.lruOldest !== null) {
      const item = this.lruOldest;
      this.remove(item.id, item);
      this.evictions++;
      if (!item.fetched) this.evictedUnfetched++;
      this.onEvict?.(item);
    }
  }

  private remove(id: string, item: StoredItem): void {
    this.items.delete(id);
    this.unlink(item);
    this.usedBytes -= item.bytes;
    this.tally(item, -1);
  }

  /** Append `item` as the most recently used. */
  private link(item: StoredItem): void {
    if (item.linked) throw new Error(`store invariant: item ${JSON.stringify(item.id)} linked twice`);
    item.older = this.lruNewest;
    item.newer = null;
    if (this.lruNewest !== null) this.lruNewest.newer = item;
    else this.lruOldest = item;
    this.lruNewest = item;
    item.linked = true;
  }

  private unlink(item: StoredItem): void {
    if (!item.linked) throw new Error(`store invariant: item ${JSON.stringify(item.id)} is not linked`);
    if (item.older !== null) item.older.newer = item.newer;
    else this.lruOldest = item.newer;
    if (item.newer !== null) item.newer.older = item.older;
    else this.lruNewest = item.older;
    item.older = null;
    item.newer = null;
    item.linked = false;
  }

  private clearItems(): void {
    this.classItems.fill(0);
    this.classBytes.fill(0);
    this.sizes?.clear();
    this.items.clear();
    this.lruOldest = null;
    this.lruNewest = null;
    this.usedBytes = 0;
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
    this.classReclaimed.fill(0);
    this.classExpiredUnfetched.fill(0);
  }

  /** Drop everything before a snapshot is installed (state transfer). CAS numbering is kept. */
  reset(): void {
    this.clearItems();
    this.oldestLiveSec = 0;
  }

  /**
   * Every stored item, least recently used first, for state transfer and `stats items`. The
   * caller must not change the store while it iterates (both callers run synchronously).
   */
  *entries(): IterableIterator<StoredItem> {
    for (let item = this.lruOldest; item !== null; item = item.newer) yield item;
  }

  /** Every stored item, least recently used first, as an array the caller may keep (metadump). */
  lruSnapshot(): StoredItem[] {
    const out: StoredItem[] = new Array(this.items.size);
    let k = 0;
    for (let item = this.lruOldest; item !== null; item = item.newer) out[k++] = item;
    return out;
  }

  /** The same, most recently used first (`stats cachedump`); the same rule for the caller. */
  *entriesNewestFirst(): IterableIterator<StoredItem> {
    for (let item = this.lruNewest; item !== null; item = item.older) yield item;
  }
}
