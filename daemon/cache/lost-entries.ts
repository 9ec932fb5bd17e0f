/**
 * Entries this node proposed as leader and lost the lead with, undecided: where each one stands is
 * told later by the reading pump. Mu decides one entry per log index, so when the pump delivers
 * index i, an entry we wrote at i was committed if and only if the delivered entry is ours. Entries
 * carry a stamp no other entry has (effect-codec.ts), so "ours" is a byte comparison.
 *
 * Invariants:
 * - Each lost entry gets exactly one fate: 'applied' (committed, and applied here now), 'not-applied'
 *   (another entry, or nothing, was decided at its index: it never takes effect anywhere), or
 *   'unknown' (a snapshot jumped over its index, or it was registered too late to watch).
 * - Fates are given in index order, as the pump moves; the list is kept sorted by index.
 */

export type LostFate = 'applied' | 'not-applied' | 'unknown';

interface LostEntry {
  index: number;
  payload: Buffer;
  settle: (fate: LostFate) => void;
}

export class LostEntries {
  private readonly entries: LostEntry[] = [];

  get size(): number {
    return this.entries.length;
  }

  /**
   * `payload` was written at `index` (0: never written, so it never takes effect). `appliedIndex`:
   * how far the pump has gone; an index it already passed cannot be watched any more.
   */
  watch(index: number, payload: Buffer, appliedIndex: number): Promise<LostFate> {
    if (index === 0) return Promise.resolve('not-applied');
    if (index <= appliedIndex) return Promise.resolve('unknown');
    return new Promise((settle) => {
      let at = this.entries.length;
      while (at > 0 && this.entries[at - 1].index > index) at--;
      this.entries.splice(at, 0, { index, payload, settle });
    });
  }

  /** The pump delivered `payload` at `index` (null: it passed the index without an entry). */
  delivered(index: number, payload: Buffer | null): void {
    while (this.entries.length > 0 && this.entries[0].index <= index) {
      const e = this.entries.shift()!;
      // An index passed on the way to `index` held a part of a longer entry that is not ours.
      e.settle(e.index === index && payload !== null && payload.equals(e.payload) ? 'applied' : 'not-applied');
    }
  }

  /** A snapshot installed state up to `index`: what it holds of our entries cannot be told. */
  jumped(index: number): void {
    while (this.entries.length > 0 && this.entries[0].index <= index) this.entries.shift()!.settle('unknown');
  }
}
