/**
 * Seeded pseudo-random numbers (mulberry32): the same seed gives the same keys, values and
 * operation mix on every run, so two systems in one comparison receive identical workloads.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, boundExclusive). */
  below(boundExclusive: number): number;
  readonly seed: number;
}

export function makeRng(seed: number): Rng {
  let state = seed >>> 0;
  const nextU32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    seed,
    next: () => nextU32() / 4294967296,
    below: (boundExclusive: number) => Math.floor((nextU32() / 4294967296) * boundExclusive),
  };
}

/** A seed for runs that did not ask for one; always printed so the run can be repeated. */
export function randomSeed(): number {
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
