/**
 * The expiry clock: it reads the wall clock's second (never a second ahead, at most a tick behind)
 * and follows it across a second boundary without anyone calling Date.now() for it.
 */
import { coarseUnixSec } from './coarse-clock';

test('the coarse clock reads the current unix second and ticks over the next boundary', async () => {
  const before = Math.floor(Date.now() / 1000);
  const first = coarseUnixSec();
  expect(first).toBeGreaterThanOrEqual(before);
  expect(first).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  // Wait past the next boundary plus slack for the timer (bounded, not a performance assertion).
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 50));
  const after = coarseUnixSec();
  expect(after).toBeGreaterThan(first);
  expect(after).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
});
