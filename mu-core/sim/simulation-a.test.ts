/**
 * The seeded simulation, part 1 of 2 (jest runs the parts in parallel). Every seed checks
 * safety after every step (sim/checker.ts) and progress once the faults stop (sim/scenario.ts).
 * MU_SEEDS=N runs more seeds; MU_SEED=N replays one. A failure names its seed.
 */
import { runScenario, ScenarioResult } from './scenario';
import { seedRange } from './seeds';

const seeds = seedRange(0, 2);

test(`agreement, durability and progress under crashes, pauses and delays: ${seeds.length} seeds`, () => {
  const results: ScenarioResult[] = [];
  for (const seed of seeds) results.push(runScenario(seed, seeds.length === 1));
  if (seeds.length === 0) return; // MU_SEED given: the other part runs it
  expect(results.every((r) => r.committed >= 1)).toBe(true);
  expect(results.reduce((a, r) => a + r.committed, 0)).toBeGreaterThan(seeds.length * 10);
  if (seeds.length >= 20) expect(results.some((r) => r.nodes === 5) && results.some((r) => r.nodes === 3)).toBe(true);
}, 600_000);
