/**
 * A cluster's ports are all different even when the free-port probe repeats itself (it does: a
 * probed port is free again at once), and a source that cannot supply enough fails clearly.
 */
import { distinctFreePorts } from '../../loadgen/ports';

test('distinct ports from a probe that repeats itself; a clear error when it cannot supply enough', async () => {
  const answers = [40001, 40001, 40002, 40001, 40003, 40002, 40004];
  let i = 0;
  const repeating = () => Promise.resolve(answers[i++ % answers.length]);
  expect(await distinctFreePorts(4, repeating)).toEqual([40001, 40002, 40003, 40004]);
  await expect(distinctFreePorts(2, () => Promise.resolve(40009))).rejects.toThrow(/only 1 distinct free ports of 2/);
  const real = await distinctFreePorts(9);
  expect(new Set(real).size).toBe(9);
});
