/**
 * The cache's operations, as the protocol handlers see them.
 *
 * Seam (see ../shared/DESIGN.md): a mutation is *decided* against the current state and turned
 * into an Effect (effects.ts); the effect is what gets replicated and applied. Handlers never see
 * effects: they call `CacheEngine.mutate(op)` and format the result. On a single node the result is
 * returned synchronously; a replicated engine returns a Promise that settles after commit, so
 * handlers must accept both (use `whenReady`).
 *
 * Keys and values are raw bytes (Buffer). Times are unix seconds. `exptime` in an op is the value
 * the client sent (memcached rules: 0 = never, negative = already expired, <= 30 days = relative,
 * larger = absolute unix time); the engine converts it.
 */

/** A snapshot of one item, as a read returns it. Buffers must not be mutated by the caller. */
export interface ItemView {
  key: Buffer;
  value: Buffer;
  /** 32-bit client flags. */
  flags: number;
  /** Absolute expiry in unix seconds; 0 = never. */
  exptimeSec: number;
  /** 64-bit CAS unique, identical on every replica. */
  cas: bigint;
  /** Unix seconds of the last access on this node (local metadata, not replicated). */
  lastAccessSec: number;
  /** True if the item was fetched before the current access (meta `h`). Local metadata. */
  fetchedBefore: boolean;
  /** Meta protocol: item was invalidated (ms/md with I) and is stale. */
  stale: boolean;
  /** Meta protocol: a win token (W) was already handed out for this item. Local metadata. */
  winTokenSent: boolean;
  /** Stored by `ms` with `b`: meta replies show the key base64-encoded. */
  keyBinary: boolean;
}

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';

export interface StoreOp {
  op: 'store';
  mode: StoreMode;
  key: Buffer;
  value: Buffer;
  flags: number;
  /** As sent by the client (see file header). Ignored for append/prepend, which keep the item's. */
  exptime: number;
  /** Compare-and-swap unique: required for mode 'cas'. append/prepend/add compare it unless it is
   *  0 (memcached's CAS_NONE). Binary handlers pass undefined for a zero CAS field. */
  compareCas?: bigint;
  /** Meta `E`: use this CAS unique for the new item instead of generating one. */
  explicitCas?: bigint;
  /** Meta `I` (invalidate): with a CAS older than the item's, store but mark stale. */
  invalidate?: boolean;
  /** Meta `b`: the key arrived base64-encoded; replies show it that way. */
  keyBinary?: boolean;
  /**
   * When the new item cannot be allocated (-M, or an item larger than -m), drop the key's item too,
   * as memcached does for a set. Default: mode 'set'. Meta ms (any mode) and a binary SET turned
   * into 'cas' by its CAS field pass true. (Leave it undefined when it equals the default: the peer
   * link's compact binary form of a forwarded store op has no room for it, so one carrying it goes
   * as JSON.)
   */
  unlinkOnNoMemory?: boolean;
  /**
   * `value` is the caller's to give away (nothing else refers to it or changes it): the store may
   * keep it instead of a copy. Otherwise it is copied, as a view of a read buffer must be.
   */
  valueOwned?: boolean;
}

export type StoreStatus = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'TOO_LARGE' | 'NO_MEMORY';

/**
 * Statuses of results that often carry nothing but the status and maybe a CAS (store, delete,
 * touch, a failed arith): the peer link's binary reply and the log's outcome record send such a
 * result as an index into this list. The order is part of both formats: append only.
 */
export const PLAIN_RESULT_STATUSES = ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'TOO_LARGE', 'NO_MEMORY', 'OK', 'NON_NUMERIC', 'DELETED', 'TOUCHED'] as const;

export interface StoreResult {
  status: StoreStatus;
  /** CAS unique of the stored item (when status is STORED). */
  cas?: bigint;
}

export interface ArithOp {
  op: 'arith';
  key: Buffer;
  incr: boolean;
  delta: bigint;
  /** When set and the key is missing, create it with this value (binary incr initial, meta N/J). */
  create?: { initial: bigint; exptime: number; flags?: number };
  compareCas?: bigint;
  explicitCas?: bigint;
}

export interface ArithResult {
  status: 'OK' | 'NOT_FOUND' | 'NON_NUMERIC' | 'EXISTS' | 'NO_MEMORY';
  /** The new value (status OK). */
  value?: bigint;
  cas?: bigint;
  /** The key was missing and `create` made it (the value is the initial one, no delta applied). */
  created?: boolean;
  /** NO_MEMORY: the key was missing and the item `create` asks for could not be allocated. */
  creating?: boolean;
  /** The item after the operation (status OK): meta `ma` reports t/c/v from it. */
  item?: ItemView;
}

export interface DeleteOp {
  op: 'delete';
  key: Buffer;
  compareCas?: bigint;
  /** Meta `I`: mark stale (and keep) instead of removing; with `exptime` the new TTL (meta `T`). */
  invalidate?: boolean;
  exptime?: number;
  explicitCas?: bigint;
}

export interface DeleteResult {
  status: 'DELETED' | 'NOT_FOUND' | 'EXISTS';
}

/** touch, gat/gats, binary touch/gat: change expiry, keep CAS; returns the item when found. */
export interface TouchOp {
  op: 'touch';
  key: Buffer;
  exptime: number;
}

export interface TouchResult {
  status: 'TOUCHED' | 'NOT_FOUND';
  item?: ItemView;
}

/** flush_all [delay]: delay follows exptime rules (0 = now). */
export interface FlushOp {
  op: 'flush';
  delay: number;
}

export interface FlushResult {
  status: 'OK';
}

/**
 * Meta get with side effects (mg with N, T, R, or any mg: it may hand out a win token).
 * A plain mg without N/T still goes through here so the win-token/stale rules stay in one place.
 */
export interface MetaGetOp {
  op: 'metaGet';
  key: Buffer;
  /** `T<ttl>`: update the TTL on hit. */
  touchExptime?: number;
  /** `N<ttl>`: on miss, create an empty item (flags 0) with this TTL and hand out a win token. */
  vivifyExptime?: number;
  /** `R<secs>`: if remaining TTL is below this, hand out a win token (once). */
  recacheBelowSec?: number;
  /** `u`: do not bump in LRU / access metadata. */
  noBump?: boolean;
  /** T stands before R among the flags: memcached applies them in order, so R sees the new TTL. */
  touchBeforeRecache?: boolean;
}

export interface MetaGetResult {
  /** The item (before this access's metadata updates, except TTL from T). Missing = miss. */
  item?: ItemView;
  /** This caller won the right to recache (W flag). */
  win: boolean;
  /** Another caller already holds the win token (Z flag). */
  winTokenAlreadySent: boolean;
  /** Item is stale (X flag). */
  stale: boolean;
  /** The item was created by this call (N vivify) — it is a miss with a win token. */
  vivified: boolean;
}

/**
 * Changes nothing; its entry only moves the log on. A deposed leader sends it to the new leader to
 * learn the fate of the entries it had in flight (replicated-engine.ts). No client command makes one.
 */
export interface FenceOp {
  op: 'fence';
}

export interface FenceResult {
  status: 'OK';
}

export type WriteOp = StoreOp | ArithOp | DeleteOp | TouchOp | FlushOp | MetaGetOp | FenceOp;

export type WriteResultFor<O extends WriteOp> = O extends StoreOp
  ? StoreResult
  : O extends ArithOp
    ? ArithResult
    : O extends DeleteOp
      ? DeleteResult
      : O extends TouchOp
        ? TouchResult
        : O extends FlushOp
          ? FlushResult
          : O extends MetaGetOp
            ? MetaGetResult
            : O extends FenceOp
              ? FenceResult
              : never;

export type MaybePromise<T> = T | Promise<T>;

/** What handlers talk to. */
export interface CacheEngine {
  /** `cache_memlimit`: this node's item memory limit from now on. */
  setMemoryLimit(bytes: number): void;
  /** Plain read of committed state; `bump` (default true) updates LRU and access metadata. */
  get(key: Buffer, bump?: boolean): ItemView | undefined;
  /** What get would return, with no effect at all: no LRU bump, no counters, nothing reported to watch. */
  peek(key: Buffer): ItemView | undefined;
  /** Decide, commit and apply one mutation. */
  mutate<O extends WriteOp>(op: O): MaybePromise<WriteResultFor<O>>;
  /** Largest value in bytes that can be stored for this key (from -I), for early rejection. */
  maxValueBytes(keyBytes: number, flags: number): number;
  /** False under -C (items carry no CAS); absent means true. */
  readonly casEnabled?: boolean;
}

/** Run `f` on a value that may still be pending, keeping synchronous values synchronous. */
export function whenReady<T, R>(v: MaybePromise<T>, f: (value: T) => R): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}
