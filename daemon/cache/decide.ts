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
import { itemBytes, LookupMiss, StoredItem } from './store';
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
}

/** A fence changes nothing (types.ts FenceOp). */
const FENCE_DECISION: Decision<FenceResult> = { result: { status: 'OK' }, effects: [] };

export class Decider {
  constructor(
    private readonly store: DecisionState,
    private readonly limits: Limits,
    private readonly clockSec: () => number,
  ) {}

  /** CAS uniques follow memcached's global counter: one per link, incr, immediate flush. */
  private nextCas(): bigint {
    return this.store.lastCas + 1n;
  }

  private live(key: Buffer): StoredItem | undefined {
    const found = this.store.lookup(key);
    return typeof found === 'string' ? undefined : found;
  }

  fits(keyBytes: number, flags: number, valueBytes: number): boolean {
    const bytes = itemBytes(keyBytes, flags, valueBytes);
    return bytes <= this.limits.itemSizeMaxBytes;
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
    const fits = this.fits(op.key.length, op.flags, op.value.length);
    // A set that fits replaces whatever is stored without reading it, so it skips the lookup (the
    // store counts an expired item it replaces, as a lookup would have).
    const old = op.mode === 'set' && fits ? undefined : this.live(op.key);
    if (!fits) {
      // memcached drops the old value of a set that failed to allocate, so no stale data survives.
      const effects: Effect[] = op.mode === 'set' && old ? [{ kind: 'delete', key: copy(op.key) }] : [];
      return { result: { status: 'TOO_LARGE' }, effects };
    }
    const compare = op.compareCas ?? 0n;
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
        if (old.cas === compare) return this.put(op, op.value, op.flags, absoluteExptime(op.exptime, nowSec), false, nowSec);
        // (A CAS of 0 is memcached's "no CAS", which never counts as an older one.)
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
        if (!this.fits(op.key.length, old.flags, value.length)) return { result: { status: 'NOT_STORED' }, effects: [] };
        return this.put(op, value, old.flags, old.exptimeSec, false, nowSec);
      }
    }
  }

  /** The put effect of a store that succeeds; key and value are copied out of the client's input. */
  private put(op: StoreOp, value: Buffer, flags: number, exptimeSec: number, stale: boolean, nowSec: number): Decision<StoreResult> {
    if (itemBytes(op.key.length, flags, value.length) > this.limits.memoryLimitBytes) {
      return { result: { status: 'NO_MEMORY' }, effects: [] };
    }
    // Only a whole new item from `ms ... b` carries the binary-key mark; append/prepend build a new
    // item without it, as memcached does.
    const keyBinary = op.keyBinary === true && op.mode !== 'append' && op.mode !== 'prepend';
    const cas = op.explicitCas ?? this.nextCas();
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
      const cas = op.explicitCas ?? this.nextCas();
      const effect: Effect = {
        kind: 'put', key: copy(op.key), value: Buffer.from(op.create.initial.toString(), 'latin1'),
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
    // memcached rewrites a shorter number in place, padding the old length with spaces.
    const newValue = digits.length < old.value.length
      ? Buffer.concat([digits, Buffer.alloc(old.value.length - digits.length, 0x20)])
      : digits;
    const cas = op.explicitCas ?? this.nextCas();
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
        effects: [{ kind: 'invalidate', key: copy(op.key), cas: op.explicitCas ?? this.nextCas(), exptimeSec }],
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
    // memcached: oldest_live = realtime(delay) - 1 (or now - 1); it is immediate when that is not in
    // the future, and only then consumes a CAS unique.
    const oldestLiveSec = (op.delay > 0 ? absoluteExptime(op.delay, nowSec) : nowSec) - 1;
    const immediate = oldestLiveSec <= nowSec;
    const cas = immediate ? this.nextCas() : 0n;
    return { result: { status: 'OK' }, effects: [{ kind: 'flush', immediate, oldestLiveSec, cas }] };
  }

  private decideMetaGet(op: MetaGetOp): Decision<MetaGetResult> {
    const nowSec = this.clockSec();
    const old = this.live(op.key);
    if (!old) {
      if (op.vivifyExptime === undefined) {
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
