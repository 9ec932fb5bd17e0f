/**
 * LocalEngine: the single-node CacheEngine. Each mutation is decided and its effects applied at
 * once, synchronously, so a single node replies exactly as memcached would. The replicated engine
 * (a later issue) keeps the same decide/apply split and puts consensus between the two.
 */
import type { CommandCounters } from '../context';
import { CachePolicy, Decider, Limits } from './decide';
import type { Effect } from './effects';
import { slabClassifier } from './slab-classes';
import { casBytesFor, itemBytes, ItemStore } from './store';
import type { CacheEngine, ItemView, WriteOp, WriteResultFor } from './types';

export interface EngineOptions extends Limits, CachePolicy {
  /** Unix seconds; injectable for tests. */
  clockSec?: () => number;
  counters?: CommandCounters;
}

export const unixNowSec = (): number => Math.floor(Date.now() / 1000);

export class LocalEngine implements CacheEngine {
  readonly store: ItemStore;
  private readonly decider: Decider;
  private readonly counters?: CommandCounters;

  constructor(readonly options: EngineOptions) {
    const clockSec = options.clockSec ?? unixNowSec;
    this.store = new ItemStore(options.memoryLimitBytes, clockSec, slabClassifier(options.itemSizeMaxBytes), casBytesFor(options.casEnabled));
    this.decider = new Decider(this.store, options, clockSec);
    this.counters = options.counters;
  }

  get(key: Buffer, bump = true): ItemView | undefined {
    const found = this.store.lookup(key);
    if (typeof found === 'string') {
      if (this.counters && found === 'expired') this.counters.get_expired++;
      if (this.counters && found === 'flushed') this.counters.get_flushed++;
      return undefined;
    }
    const view = this.store.view(found);
    if (bump) {
      this.store.bump(found);
      found.fetched = true;
    }
    return view;
  }

  peek(key: Buffer): ItemView | undefined {
    const found = this.store.peek(key);
    return typeof found === 'string' ? undefined : this.store.view(found);
  }

  mutate<O extends WriteOp>(op: O): WriteResultFor<O> {
    const { result, effects } = this.decider.decide(op);
    this.applyAll(effects);
    if (op.op === 'metaGet' && (result as WriteResultFor<{ op: 'metaGet'; key: Buffer }>).vivified) {
      this.store.markVivified(op.key);
    }
    return result;
  }

  /** `ids`: the map id of each effect's key, when the caller has them (ItemStore.apply). */
  applyAll(effects: Effect[], ids?: readonly string[]): void {
    for (let i = 0; i < effects.length; i++) this.store.apply(effects[i], ids?.[i]);
  }

  maxValueBytes(keyBytes: number, flags: number): number {
    return this.options.itemSizeMaxBytes - itemBytes(keyBytes, flags, 0, this.store.casBytes);
  }

  get casEnabled(): boolean {
    return this.options.casEnabled !== false;
  }

  /**
   * `cache_memlimit`: the decider reads the limit from `options` at every decision. Lowered, the
   * store evicts down to it at once; under -M nothing is evicted and stores are refused until
   * deletes bring the items under it (memcached likewise keeps what it holds).
   */
  setMemoryLimit(bytes: number): void {
    this.options.memoryLimitBytes = bytes;
    this.store.setMemoryLimit(bytes, this.options.evictions !== false);
  }
}
