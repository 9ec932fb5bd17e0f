/**
 * One connection's view of the cache engine that reports its commands to `watch` (watch.ts):
 * every keyed lookup or mutation logs an item_get first (fetchers), as memcached's do_item_get
 * does for every command that reads a key (a set looks its key up too), and a store logs its
 * outcome (mutations). It knows the connection's descriptor for the `cfd` field.
 *
 * With nobody watching it only forwards: two boolean tests per call.
 */
import { absoluteExptime } from './cache/decide';
import { itemBytes, ItemStore } from './cache/store';
import type { CacheEngine, ItemView, MaybePromise, StoreOp, StoreResult, WriteOp, WriteResultFor } from './cache/types';
import { whenReady } from './cache/types';
import type { WatchHub } from './watch';

export class WatchingEngine implements CacheEngine {
  readonly casEnabled?: boolean;

  constructor(
    private readonly inner: CacheEngine,
    private readonly hub: WatchHub,
    private readonly store: ItemStore,
    private readonly fd: number,
    private readonly nowSec: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.casEnabled = inner.casEnabled;
  }

  setMemoryLimit(bytes: number): void {
    this.inner.setMemoryLimit(bytes);
  }

  maxValueBytes(keyBytes: number, flags: number): number {
    return this.inner.maxValueBytes(keyBytes, flags);
  }

  get(key: Buffer, bump?: boolean): ItemView | undefined {
    if (this.hub.on.fetchers) this.hub.itemGet(key, this.fd);
    return this.inner.get(key, bump);
  }

  peek(key: Buffer): ItemView | undefined {
    return this.inner.peek(key);
  }

  mutate<O extends WriteOp>(op: O): MaybePromise<WriteResultFor<O>> {
    const hub = this.hub;
    if (!hub.on.fetchers && !hub.on.mutations) return this.inner.mutate(op);
    if (hub.on.fetchers && 'key' in op) hub.itemGet(op.key, this.fd);
    if (op.op !== 'store' || !hub.on.mutations) return this.inner.mutate(op);
    const logStore = this.storeLogger(op as StoreOp);
    return whenReady(this.inner.mutate(op), (r) => {
      logStore(r as StoreResult);
      return r;
    });
  }

  /** What the store will log once its outcome is known, from the item it would create. */
  private storeLogger(op: StoreOp): (r: StoreResult) => void {
    const now = this.nowSec();
    let flags = op.flags;
    let valueBytes = op.value.length;
    let ttlSec = relativeTtl(absoluteExptime(op.exptime, now), now);
    if (op.mode === 'append' || op.mode === 'prepend') {
      // The new item keeps the old one's flags and expiry and holds both values.
      const old = this.store.peek(op.key);
      if (typeof old !== 'string') {
        flags = old.flags;
        valueBytes += old.value.length;
        ttlSec = relativeTtl(old.exptimeSec, now);
      }
    }
    const bytes = itemBytes(op.key.length, flags, valueBytes, this.store.casBytes);
    return (r) => this.hub.itemStore(op.key, r.status.toLowerCase(), op.mode, ttlSec, bytes, valueBytes, this.fd);
  }
}

/** Seconds an item with this absolute expiry has left (0: none, or already expired). */
function relativeTtl(exptimeSec: number, nowSec: number): number {
  return exptimeSec === 0 ? 0 : Math.max(0, exptimeSec - nowSec);
}
