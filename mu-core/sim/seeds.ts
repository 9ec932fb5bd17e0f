/**
 * Which seeds a simulation test file runs: MU_SEED=N replays one seed; MU_SEEDS=N widens the CI
 * default of 2,000 seeds; the range is split between test files so jest runs them in parallel.
 */
export const DEFAULT_SEEDS = 2000;

/**
 * Seeds past the default range that once caught a bug the range missed; every run includes them.
 * 3860: out-of-order completions acked a follower past its own failed write (leader.ts writeDone).
 * 15195 (and 22900, 23173, 23422, 28655, 41464): a node restarted empty founded "a new group" and
 *        overwrote an entry committed with a peer that had not learnt so (node.ts, startedBefore).
 * 55906: a deposed leader committed with a follower restarted after its prepare (leader.ts, Vouching).
 * 10655 (19172, 21783, 23881 the same symptom): a commit point at its sync marker's own index made
 *        a restarted node a voter under a term that could not commit; no progress (node.ts runPump).
 * 5696: a snapshot round re-synced a vouched follower and took its vouching back (leader.ts sync).
 */
export const REGRESSION_SEEDS = [3860, 5696, 10655, 15195, 19172, 21783, 22900, 23173, 23422, 23881, 28655, 41464, 55906];

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
