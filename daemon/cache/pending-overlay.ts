/**
 * What a replicated leader decides against: committed state plus the effects it has proposed but
 * not yet seen applied (DESIGN.md: "the cache decides the effect against committed state plus
 * effects still pending"). Reads never look here: they see committed state only.
 *
 * Invariants:
 * - For every key with in-flight effects, `pending` holds the item as it will be once they are all
 *   applied (null = deleted), and how many of its effects are still in flight.
 * - `lastCas` is at least every CAS unique handed out, committed or not, so uniques never repeat.
 * - `growthBytes` is the sum over pending keys of how many bytes the store will hold more for that
 *   key once its effects are applied (its `growthBytes`, computed against the store as it was at
 *   the key's last propose or settle), so -M decides against the memory the log will leave used.
 * - A flush in flight is a barrier (`flushInFlight`): the engine decides nothing until it is applied,
 *   because a flush touches every key.
 */
import type { DecisionState } from './decide';
import type { Effect } from './effects';
import { changedItem, itemFromPut, ItemStore, LookupMiss, StoredItem } from './store';
import type { ItemView } from './types';

interface PendingKey {
  item: StoredItem | null;
  inFlight: number;
  /** Bytes of `item` less those the store holds for the key now. */
  growthBytes: number;
}

export class PendingOverlay implements DecisionState {
  private readonly pending = new Map<string, PendingKey>();
  private speculativeCas = 0n;
  private growthBytes = 0;
  flushInFlight = 0;

  /**
   * `trackGrowth`: keep `growthBytes`, which only -M's decisions read (hasRoomFor); without -M the
   * leader skips the store lookup it costs per proposed effect.
   */
  constructor(private readonly store: ItemStore, private readonly clockSec: () => number, private readonly trackGrowth = false) {}

  get lastCas(): bigint {
    return this.store.lastCas > this.speculativeCas ? this.store.lastCas : this.speculativeCas;
  }

  get empty(): boolean {
    return this.pending.size === 0 && this.flushInFlight === 0;
  }

  /** Whether an effect in flight refers to the key with this id. */
  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  lookup(key: Buffer): StoredItem | LookupMiss {
    const entry = this.pending.get(key.toString('latin1'));
    if (entry === undefined) return this.store.lookup(key);
    if (entry.item === null) return 'missing';
    return this.store.deadReason(entry.item) ?? entry.item;
  }

  bump(item: StoredItem): void {
    if (!this.pending.has(item.id)) this.store.bump(item);
  }

  view(item: StoredItem): ItemView {
    return this.store.view(item);
  }

  /** Room for `bytes` once the effects in flight are applied; their items stay (see ItemStore). */
  hasRoomFor(bytes: number): boolean {
    if (!this.trackGrowth) throw new Error('pending overlay: hasRoomFor asked without growth tracking (only -M decides on room)');
    return this.store.hasRoomFor(bytes + this.growthBytes, (id) => this.pending.has(id));
  }

  /**
   * The leader proposed these effects: later decisions see them. The map id of each effect's key
   * ('' for a flush) is appended to `ids`, for settle and the store to use again.
   */
  propose(effects: Effect[], ids: string[]): void {
    for (const effect of effects) {
      this.noteCas(effect);
      if (effect.kind === 'flush') {
        this.flushInFlight++;
        ids.push('');
        continue;
      }
      const id = effect.key.toString('latin1');
      ids.push(id);
      let entry = this.pending.get(id);
      if (entry === undefined) {
        // A put replaces the stored item whatever it is (only a stale write-back reads it, for its
        // win token): no store lookup for the common set.
        const before = effect.kind === 'put' && !effect.stale ? null : this.currentItem(effect.key);
        entry = { item: before, inFlight: 0, growthBytes: 0 };
        this.pending.set(id, entry);
      }
      entry.item = this.after(entry.item, effect, id);
      entry.inFlight++;
      this.recountGrowth(id, entry);
    }
  }

  /** These effects (from a proposal of ours, with the `ids` propose gave) are now applied to the store. */
  settle(effects: Effect[], ids: readonly string[]): void {
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i];
      if (effect.kind === 'flush') {
        if (this.flushInFlight > 0) this.flushInFlight--;
        continue;
      }
      const id = ids[i];
      const entry = this.pending.get(id);
      if (entry === undefined) continue;
      entry.inFlight--;
      if (entry.inFlight > 0) {
        this.recountGrowth(id, entry);
      } else {
        this.growthBytes -= entry.growthBytes;
        this.pending.delete(id);
      }
    }
  }

  private recountGrowth(id: string, entry: PendingKey): void {
    if (!this.trackGrowth) return;
    this.growthBytes -= entry.growthBytes;
    entry.growthBytes = (entry.item?.bytes ?? 0) - this.store.bytesOf(id);
    this.growthBytes += entry.growthBytes;
  }

  /** Leadership was lost: what was in flight may or may not commit; forget it all. */
  clear(): void {
    this.pending.clear();
    this.growthBytes = 0;
    this.flushInFlight = 0;
  }

  private currentItem(key: Buffer): StoredItem | null {
    const found = this.store.lookup(key);
    return typeof found === 'string' ? null : found;
  }

  private after(item: StoredItem | null, effect: Exclude<Effect, { kind: 'flush' }>, id: string): StoredItem | null {
    switch (effect.kind) {
      case 'put':
        return itemFromPut(effect, id, this.clockSec(), this.store.casBytes, item ?? undefined);
      case 'delete':
        return null;
      case 'touch':
        return item === null ? null : changedItem(item, { exptimeSec: effect.exptimeSec });
      case 'invalidate':
        return item === null
          ? null
          : changedItem(item, { stale: true, winTokenSent: false, cas: effect.cas, exptimeSec: effect.exptimeSec ?? item.exptimeSec });
    }
  }

  private noteCas(effect: Effect): void {
    const cas = effect.kind === 'put' || effect.kind === 'invalidate' || effect.kind === 'flush' ? effect.cas : 0n;
    if (cas > this.speculativeCas) this.speculativeCas = cas;
  }
}
