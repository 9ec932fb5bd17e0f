/**
 * Which seeds a simulation test file runs: MU_SEED=N replays one seed; MU_SEEDS=N widens the CI
 * default of 2,000 seeds; the range is split between test files so jest runs them in parallel.
 */
export const DEFAULT_SEEDS = 2000;

/**
 * Seeds past the default range that once caught a bug the range missed; every run includes them.
 * 3860: out-of-order completions acked a follower past its own failed write (leader.ts writeDone).
 */
export const REGRESSION_SEEDS = [3860];

export function seedRange(part: number, parts: number): number[] {
  const one = process.env.MU_SEED;
  if (one !== undefined && one !== '') return part === 0 ? [Number(one)] : [];
  const total = Number(process.env.MU_SEEDS ?? DEFAULT_SEEDS);
  if (!Number.isInteger(total) || total < 1) throw new Error(`MU_SEEDS must be a positive integer, got ${process.env.MU_SEEDS}`);
  const out: number[] = [];
  for (let s = 1 + part; s <= total; s += parts) out.push(s);
  REGRESSION_SEEDS.forEach((s, i) => { if (s > total && i % parts === part) out.push(s); });
  return out;
}
