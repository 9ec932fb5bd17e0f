/**
 * The memo of the linearizability search: which (linearized set, register state) pairs were
 * explored. Each pair is one 64-bit key (the set's Zobrist hash with the state's id mixed in) in an
 * open-addressing table of two Uint32Arrays. A JS Set of string keys cost a string per step (about
 * 1M steps a second) and cannot hold more than 2^24 entries, fewer than a search bounded at tens
 * of millions of steps may need.
 *
 * Two pairs sharing a key is a 2^-64 event per pair, as for the set hash itself: it could at worst
 * hide a violation (a branch wrongly taken as explored), never invent one.
 */
const keyLo = (h2: number, stateId: number): number => (h2 ^ Math.imul(stateId + 1, 0x85ebca77)) >>> 0;

/** `k2`: keyLo's half of the same pair. */
function keyHi(h1: number, k2: number, stateId: number): number {
  const k1 = (h1 ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0;
  return k1 === 0 && k2 === 0 ? 1 : k1; // (0, 0) marks an empty slot
}

// Small to start: the search makes one table per segment, and most segments are a handful of ops.
const MIN_SLOTS_LOG2 = 10;

export class VisitedSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(slotsLog2 = MIN_SLOTS_LOG2) {
    this.hi = new Uint32Array(1 << slotsLog2);
    this.lo = new Uint32Array(1 << slotsLog2);
    this.mask = (1 << slotsLog2) - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Whether the pair (set hash h1:h2, state id) is there; adds nothing. */
  has(h1: number, h2: number, stateId: number): boolean {
    const k2 = keyLo(h2, stateId);
    const i = this.slotOf(keyHi(h1, k2, stateId), k2);
    return this.hi[i] !== 0 || this.lo[i] !== 0;
  }

  /** Adds the pair (set hash h1:h2, state id); false if it was there already. */
  add(h1: number, h2: number, stateId: number): boolean {
    const k2 = keyLo(h2, stateId);
    const k1 = keyHi(h1, k2, stateId);
    const i = this.slotOf(k1, k2);
    if (this.hi[i] !== 0 || this.lo[i] !== 0) return false;
    this.hi[i] = k1;
    this.lo[i] = k2;
    // Grow at 3/4 load: probes stay short, and the table needs under 22 bytes per entry.
    if (++this.count * 4 > (this.mask + 1) * 3) this.grow();
    return true;
  }

  /** The slot holding key k1:k2, or the empty slot where it would go (linear probing). */
  private slotOf(k1: number, k2: number): number {
    let i = (k1 + Math.imul(k2, 0x27d4eb2d)) & this.mask;
    for (;;) {
      const a = this.hi[i];
      const b = this.lo[i];
      if ((a === 0 && b === 0) || (a === k1 && b === k2)) return i;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldHi = this.hi;
    const oldLo = this.lo;
    const slots = (this.mask + 1) * 2;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.mask = slots - 1;
    for (let j = 0; j < oldHi.length; j++) {
      const k1 = oldHi[j];
      const k2 = oldLo[j];
      if (k1 === 0 && k2 === 0) continue;
      let i = (k1 + Math.imul(k2, 0x27d4eb2d)) & this.mask;
      while (this.hi[i] !== 0 || this.lo[i] !== 0) i = (i + 1) & this.mask;
      this.hi[i] = k1;
      this.lo[i] = k2;
    }
  }
}
