/**
 * Decisions: given the current state, what a mutation returns and which effects it has. This is
 * memcached 1.6's semantics (do_store_item, do_add_delta, item_touch, flush_all, the meta commands)
 * expressed as effects, so a replica applying the effects ends up where memcached would be.
 *
 * `decide` may update node-local metadata (LRU, win tokens) but never replicated state: replicated
 * state only changes through the returned effects, applied by the caller.
 */
import type { Effect } from './effects';
import { addDelta, storedNumber } from './numeric';
import { casBytesFor, itemBytes, LookupMiss, StoredItem } from './store';
import type { ItemView } from './types';
import type {
  ArithOp, ArithResult, DeleteOp, DeleteResult, FenceResult, FlushOp, FlushResult, MetaGetOp, MetaGetResult,
  StoreOp, StoreResult, TouchOp, TouchResult, WriteOp, WriteResultFor,
} from './types';

/** memcached's REALTIME_MAXDELTA: exptimes up to 30 days are relative. */
const RELATIVE_EXPTIME_MAX_SEC = 60 * 60 * 24 * 30;

/** Convert a client's exptime to absolute unix seconds (0 = never; <= now = already expired). */
export function absoluteExptime(exptime: number, nowSec: number): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return 1;
  if (exptime > RELATIVE_EXPTIME_MAX_SEC) return exptime;
  return nowSec + exptime;
}

export interface Limits {
  itemSizeMaxBytes: number;
  memoryLimitBytes: number;
}

/** memcached's -M and -C. */
export interface CachePolicy {
  /** False under -M: a store that needs memory beyond the limit fails instead of evicting. */
  evictions?: boolean;
  /** False under -C: items carry no CAS unique (it reads 0) and stores ignore a client's CAS. */
  casEnabled?: boolean;
  /** Told of every item that could not be allocated (-M), with its size: `stats items` outofmemory. */
  onOutOfMemory?: (itemBytes: number) => void;
}

export interface Decision<R> {
  result: R;
  effects: Effect[];
}

/**
 * The state a decision reads: the committed store on a single node; committed state plus the
 * effects still in flight on a replicated leader (daemon/cache/pending-overlay.ts).
 */
export interface DecisionState {
  readonly lastCas: bigint;
  lookup(key: Buffer): StoredItem | LookupMiss;
  bump(item: StoredItem): void;
  view(item: StoredItem): ItemView;
  /** Room for an item of `bytes` without evicting a live one (dead ones may be reclaimed for it). */
  hasRoomFor(bytes: number): boolean;
}

/** A fence changes nothing (types.ts FenceOp). */
const FENCE_DECISION: Decision<FenceResult> = { result: { status: 'OK' }, effects: [] };

export class Decider {
  private readonly evictions: boolean;
  private readonly casEnabled: boolean;
  private readonly casBytes: number;

  constructor(
    private readonly store: DecisionState,
    private readonly limits: Limits & CachePolicy,
    private readonly clockSec: () => number,
  ) {
    this.evictions = limits.evictions !== false;
    this.casEnabled = limits.casEnabled !== false;
    this.casBytes = casBytesFor(limits.casEnabled);
  }

  /**
   * CAS uniques follow memcached's global counter: one per link, incr, immediate flush. Under -C
   * memcached's items have no room for one and every item reads CAS 0.
   */
  private nextCas(explicitCas?: bigint): bigint {
    if (!this.casEnabled) return 0n;
    return explicitCas ?? this.store.lastCas + 1n;
  }

  private itemBytes(keyBytes: number, flags: number, valueBytes: number): number {
    return itemBytes(keyBytes, flags, valueBytes, this.casBytes);
  }

  /**
   * -M: memcached cannot allocate an item when no memory is free and evicting is off. Without -M
   * an allocation evicts what it needs (the store does, when the effect is applied).
   */
  private cannotAllocate(bytes: number): boolean {
    if (this.evictions || this.store.hasRoomFor(bytes)) return false;
    this.limits.onOutOfMemory?.(bytes);
    return true;
  }

  private live(key: Buffer): StoredItem | undefined {
    const found = this.store.lookup(key);
    return typeof found === 'string' ? undefined : found;
  }

  decide<O extends WriteOp>(op: O): Decision<WriteResultFor<O>> {
    switch (op.op) {
      case 'store': return this.decideStore(op) as Decision<WriteResultFor<O>>;
      case 'arith': return this.decideArith(op) as Decision<WriteResultFor<O>>;
      case 'delete': return this.decideDelete(op) as Decision<WriteResultFor<O>>;
      case 'touch': return this.decideTouch(op) as Decision<WriteResultFor<O>>;
      case 'flush': return this.decideFlush(op) as Decision<WriteResultFor<O>>;
      case 'metaGet': return this.decideMetaGet(op) as Decision<WriteResultFor<O>>;
      case 'fence': return FENCE_DECISION as Decision<WriteResultFor<O>>;
    }
    throw new Error(`unknown cache op ${(op as WriteOp).op}`);
  }

  private decideStore(op: StoreOp): Decision<StoreResult> {
    const nowSec = this.clockSec();
    const incomingBytes = this.itemBytes(op.key.length, op.flags, op.value.length);
    const fits = incomingBytes <= this.limits.itemSizeMaxBytes;
    // A set that fits replaces whatever is stored without reading it, so it skips the lookup (the
    // store counts an expired item it replaces, as a lookup would have).
    const old = op.mode === 'set' && fits ? undefined : this.live(op.key);
    if (!fits) {
      // memcached drops the old value of a set that failed to allocate, so no stale data survives.
      const effects: Effect[] = op.mode === 'set' && old ? [{ kind: 'delete', key: copy(op.key) }] : [];
      return { result: { status: 'TOO_LARGE' }, effects };
    }
    // memcached allocates the client's item before it looks at the stored one, so under -M a full
    // cache answers every store alike, whether it would have been stored or not.
    if (this.cannotAllocate(incomingBytes)) return this.noMemory(op, old);
    // memcached compares the CAS it copied into the new item, and under -C an item holds none.
    const compare = this.casEnabled ? op.compareCas ?? 0n : 0n;
    switch (op.mode) {
      case 'add':
        if (old) {
          this.store.bump(old);
          return { result: { status: 'NOT_STORED' }, effects: [] };
        }
        return this.put(op, op.value, op.flags, absoluteExptime(op.exptime, nowSec), false, nowSec);
      case 'replace':
      case 'set':
        if (op.mode === 'replace' && !old) return { result: { status: 'NOT_STORED' }, effects: [] };
        return this.put(op, op.value, op.flags, absoluteExptime(op.exptime, nowSec), false, nowSec);
      case 'cas':
        if (!old) return { result: { status: 'NOT_FOUND' }, effects: [] };
        // A CAS of 0 is memcached's "no CAS": it never matches (it is all there is under -C) and
        // never counts as an older one.
        if (compare !== 0n && old.cas === compare) return this.put(op, op.value, op.flags, absoluteExptime(op.exptime, nowSec), false, nowSec);
        if (op.invalidate && compare !== 0n && compare < old.cas) {
          // Meta I: a stale write-back is accepted but marked stale, keeping the item's TTL.
          return this.put(op, op.value, op.flags, old.exptimeSec, true, nowSec);
        }
        return { result: { status: 'EXISTS' }, effects: [] };
      case 'append':
      case 'prepend': {
        if (!old) return { result: { status: 'NOT_STORED' }, effects: [] };
        if (compare !== 0n && compare !== old.cas) return { result: { status: 'EXISTS' }, effects: [] };
        const value = op.mode === 'append' ? Buffer.concat([old.value, op.value]) : Buffer.concat([op.value, old.value]);
        const combinedBytes = this.itemBytes(op.key.length, old.flags, value.length);
        if (combinedBytes > this.limits.itemSizeMaxBytes) return { result: { status: 'NOT_STORED' }, effects: [] };
        // memcached allocates the combined item while it still holds the client's.
        if (this.cannotAllocate(incomingBytes + combinedBytes)) return { result: { status: 'NOT_STORED' }, effects: [] };
        return this.put(op, value, old.flags, old.exptimeSec, false, nowSec);
      }
    }
  }

  /**
   * A store whose item could not be allocated. memcached then unlinks the key's item so that no
   * stale value outlives a failed set: for text and binary set (binary SET with a CAS too) and for
   * meta ms in any mode (`unlinkOnNoMemory`), not for add/replace/cas/append/prepend.
   */
  private noMemory(op: StoreOp, known: StoredItem | undefined): Decision<StoreResult> {
    const unlink = op.unlinkOnNoMemory ?? op.mode === 'set';
    const old = unlink ? known ?? this.live(op.key) : undefined;
    return { result: { status: 'NO_MEMORY' }, effects: old ? [{ kind: 'delete', key: copy(op.key) }] : [] };
  }

  /** The put effect of a store that succeeds; key and value are copied out of the client's input. */
  private put(op: StoreOp, value: Buffer, flags: number, exptimeSec: number, stale: boolean, nowSec: number): Decision<StoreResult> {
    if (this.itemBytes(op.key.length, flags, value.length) > this.limits.memoryLimitBytes) {
      return { result: { status: 'NO_MEMORY' }, effects: [] };
    }
    // Only a whole new item from `ms ... b` carries the binary-key mark; append/prepend build a new
    // item without it, as memcached does.
    const keyBinary = op.keyBinary === true && op.mode !== 'append' && op.mode !== 'prepend';
    const cas = this.nextCas(op.explicitCas);
    return {
      result: { status: 'STORED', cas },
      // A value the parser allocated for this command alone is kept as is: a large set spent one
      // more allocation and copy of its value here (and their garbage collections).
      effects: [{ kind: 'put', key: copy(op.key), value: value === op.value && op.valueOwned === true ? value : copy(value), flags, exptimeSec, cas, storedAtSec: nowSec, stale, keyBinary }],
    };
  }

  private decideArith(op: ArithOp): Decision<ArithResult> {
    const nowSec = this.clockSec();
    const old = this.live(op.key);
    if (!old) {
      if (!op.create) return { result: { status: 'NOT_FOUND' }, effects: [] };
      const value = Buffer.from(op.create.initial.toString(), 'latin1');
      if (this.cannotAllocate(this.itemBytes(op.key.length, op.create.flags ?? 0, value.length))) {
        return { result: { status: 'NO_MEMORY', creating: true }, effects: [] };
      }
      const cas = this.nextCas(op.explicitCas);
      const effect: Effect = {
        kind: 'put', key: copy(op.key), value,
        flags: op.create.flags ?? 0, exptimeSec: absoluteExptime(op.create.exptime, nowSec), cas, storedAtSec: nowSec, stale: false,
        keyBinary: false,
      };
      return { result: { status: 'OK', value: op.create.initial, cas, created: true, item: viewOfPut(effect, nowSec) }, effects: [effect] };
    }
    if (old.value.length === 0) return { result: { status: 'NON_NUMERIC' }, effects: [] };
    if (op.compareCas !== undefined && op.compareCas !== 0n && op.compareCas !== old.cas) {
      return { result: { status: 'EXISTS' }, effects: [] };
    }
    const current = storedNumber(old.value);
    if (current === undefined) return { result: { status: 'NON_NUMERIC' }, effects: [] };
    const value = addDelta(current, op.delta, op.incr);
    const digits = Buffer.from(value.toString(), 'latin1');
    // Only a longer number needs a new item (memcached rewrites one that fits in place).
    if (digits.length > old.value.length && this.cannotAllocate(this.itemBytes(op.key.length, old.flags, digits.length))) {
      return { result: { status: 'NO_MEMORY' }, effects: [] };
    }
    // memcached rewrites a shorter number in place, padding the old length with spaces.
    const newValue = digits.length < old.value.length
      ? Buffer.concat([digits, Buffer.alloc(old.value.length - digits.length, 0x20)])
      : digits;
    const cas = this.nextCas(op.explicitCas);
    // An in-place rewrite keeps the item (and its binary-key mark); a longer number is a new item.
    const effect: Effect = {
      kind: 'put', key: copy(op.key), value: newValue, flags: old.flags, exptimeSec: old.exptimeSec, cas,
      storedAtSec: nowSec, stale: false, keyBinary: old.keyBinary && digits.length <= old.value.length,
    };
    return { result: { status: 'OK', value, cas, item: viewOfPut(effect, nowSec) }, effects: [effect] };
  }

  private decideDelete(op: DeleteOp): Decision<DeleteResult> {
    const old = this.live(op.key);
    if (!old) return { result: { status: 'NOT_FOUND' }, effects: [] };
    // Any supplied CAS is compared, 0 included (meta md C0); binary handlers pass none for 0.
    if (op.compareCas !== undefined && op.compareCas !== old.cas) {
      return { result: { status: 'EXISTS' }, effects: [] };
    }
    if (op.invalidate) {
      const exptimeSec = op.exptime !== undefined ? absoluteExptime(op.exptime, this.clockSec()) : undefined;
      return {
        result: { status: 'DELETED' },
        effects: [{ kind: 'invalidate', key: copy(op.key), cas: this.nextCas(op.explicitCas), exptimeSec }],
      };
    }
    return { result: { status: 'DELETED' }, effects: [{ kind: 'delete', key: copy(op.key) }] };
  }

  private decideTouch(op: TouchOp): Decision<TouchResult> {
    const nowSec = this.clockSec();
    const old = this.live(op.key);
    if (!old) return { result: { status: 'NOT_FOUND' }, effects: [] };
    const exptimeSec = absoluteExptime(op.exptime, nowSec);
    const item = this.store.view(old); // a fresh view: ours to change
    item.exptimeSec = exptimeSec;
    this.markFetched(old);
    return { result: { status: 'TOUCHED', item }, effects: [{ kind: 'touch', key: copy(op.key), exptimeSec }] };
  }

  private decideFlush(op: FlushOp): Decision<FlushResult> {
    const nowSec = this.clockSec();
    const flushAtSec = op.delay > 0 ? absoluteExptime(op.delay, nowSec) : nowSec;
    if (!this.casEnabled) {
      // memcached -C has no CAS to tell older items from newer ones within a second: oldest_live
      // is the flush's second itself, so whatever is stored during that second is flushed too.
      // A flush for now also drops everything at once, as with CAS (memory is free at once).
      const later: Effect = { kind: 'flush', immediate: false, oldestLiveSec: flushAtSec, cas: 0n };
      const effects: Effect[] = op.delay > 0 ? [later] : [{ kind: 'flush', immediate: true, oldestLiveSec: nowSec, cas: 0n }, later];
      return { result: { status: 'OK' }, effects };
    }
    // memcached: oldest_live = realtime(delay) - 1 (or now - 1); it is immediate when that is not in
    // the future, and only then consumes a CAS unique.
    const oldestLiveSec = flushAtSec - 1;
    const immediate = oldestLiveSec <= nowSec;
    const cas = immediate ? this.nextCas() : 0n;
    return { result: { status: 'OK' }, effects: [{ kind: 'flush', immediate, oldestLiveSec, cas }] };
  }

  private decideMetaGet(op: MetaGetOp): Decision<MetaGetResult> {
    const nowSec = this.clockSec();
    const old = this.live(op.key);
    if (!old) {
      // memcached answers a miss when it cannot allocate the empty item N asks for (-M).
      if (op.vivifyExptime === undefined || this.cannotAllocate(this.itemBytes(op.key.length, 0, 0))) {
        return { result: { win: false, winTokenAlreadySent: false, stale: false, vivified: false }, effects: [] };
      }
      const cas = this.nextCas();
      const effect: Effect = {
        kind: 'put', key: copy(op.key), value: Buffer.alloc(0), flags: 0,
        exptimeSec: absoluteExptime(op.vivifyExptime, nowSec), cas, storedAtSec: nowSec, stale: false, keyBinary: false,
      };
      const item = viewOfPut(effect, nowSec);
      // The creator holds the win token: mark it once the effect is applied (see LocalEngine).
      return { result: { item, win: true, winTokenAlreadySent: false, stale: false, vivified: true }, effects: [effect] };
    }
    const effects: Effect[] = [];
    // The view keeps the expiry from before T: mg reports `t` before or after the touch depending
    // on where T stands among its flags, so the handler decides.
    const view = this.store.view(old);
    let exptimeSec = old.exptimeSec;
    if (op.touchExptime !== undefined) {
      const touchedSec = absoluteExptime(op.touchExptime, nowSec);
      if (op.touchBeforeRecache) exptimeSec = touchedSec;
      effects.push({ kind: 'touch', key: copy(op.key), exptimeSec: touchedSec });
    }
    const winTokenAlreadySent = old.winTokenSent;
    let win = false;
    if (!old.winTokenSent) {
      const recache = op.recacheBelowSec !== undefined && exptimeSec !== 0 && exptimeSec - nowSec < op.recacheBelowSec;
      if (old.stale || recache) {
        win = true;
        old.winTokenSent = true;
      }
    }
    if (!op.noBump) this.markFetched(old);
    return { result: { item: view, win, winTokenAlreadySent, stale: old.stale, vivified: false }, effects };
  }

  private markFetched(item: StoredItem): void {
    this.store.bump(item);
    item.fetched = true;
  }
}

function viewOfPut(effect: Effect & { kind: 'put' }, nowSec: number) {
  return {
    key: effect.key, value: effect.value, flags: effect.flags, exptimeSec: effect.exptimeSec, cas: effect.cas,
    lastAccessSec: nowSec, fetchedBefore: false, stale: effect.stale, winTokenSent: false, keyBinary: effect.keyBinary,
  };
}

/**
 * Stored bytes must not alias a socket chunk (it would pin the whole chunk in memory). Each copy
 * is its own allocation, never a view into a shared one: V8 keeps typed arrays of up to 64 bytes
 * inside its heap, and taking a view (subarray) would force their bytes out into a malloc'd store.
 */
function copy(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(out);
  return out;
}
