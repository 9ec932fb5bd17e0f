/**
 * Replays one simulation seed with the protocol's log kept (MU_SEED=N; seed 1 by default), and
 * checks the run reproduces exactly: same steps, same commits, same simulated time.
 */
import { runScenario } from './scenario';

test('a seed replays identically', () => {
  const seed = Number(process.env.MU_SEED || 1);
  const first = runScenario(seed, true);
  const second = runScenario(seed, false);
  expect(second).toEqual(first);
  expect(first.committed).toBeGreaterThan(0);
});
