/** OutstandingOps: behaves as a Map from id to operation, whatever order ids complete in. */
import { OutstandingOps } from './outstanding-ops';
import type { OpTarget } from './ops';
import { Rng } from './sim/rng';

function op(): OpTarget {
  return { complete: () => undefined, regionCount: null, writePeer: 0 };
}

test('an id whose home slot an older operation still holds is kept and found, and unknown ids are not', () => {
  const ops = new OutstandingOps();
  const slow = op();
  const next = op();
  ops.add(5, slow);
  ops.add(5 + 256, next); // same home slot as 5
  expect(ops.size).toBe(2);
  expect(ops.take(5 + 512)).toBeUndefined(); // same slot, never added
  expect(ops.take(5 + 256)).toBe(next);
  expect(ops.take(5 + 256)).toBeUndefined(); // taken once only
  expect(ops.take(5)).toBe(slow);
  expect(ops.size).toBe(0);
  ops.add(2 ** 40 + 7, next); // ids past 32 bits
  expect(ops.take(7)).toBeUndefined();
  expect(ops.take(2 ** 40 + 7)).toBe(next);
});

test.each([1, 2, 3, 4, 5, 6, 7, 8])('random posts and out-of-order completions agree with a Map (seed %i)', (seed) => {
  const rng = new Rng(seed); // a failing seed replays
  const random = () => rng.next();
  const ops = new OutstandingOps();
  const model = new Map<number, OpTarget>();
  let nextId = 1;
  // Plain comparisons in the loop: an expect() per check (300,000 of them) took most of this test's time.
  const check = (ok: boolean, step: number, what: string) => {
    if (!ok) throw new Error(`seed ${seed}, step ${step}: ${what}`);
  };
  for (let step = 0; step < 20_000; step++) {
    const r = random();
    if (r < 0.5 || model.size === 0) {
      const o = op();
      ops.add(nextId, o);
      model.set(nextId, o);
      nextId++;
    } else if (r < 0.95) {
      // Mostly the oldest, sometimes any: slow peers complete late.
      const ids = [...model.keys()];
      const id = random() < 0.7 ? ids[0] : ids[Math.floor(random() * ids.length)];
      check(ops.take(id) === model.get(id), step, `take(${id}) did not return the operation posted with that id`);
      model.delete(id);
    } else {
      const id = nextId + Math.floor(random() * 1000);
      check(ops.take(id) === undefined, step, `take(${id}) returned an operation for an id never posted`);
    }
    check(ops.size === model.size, step, `size ${ops.size}, expected ${model.size}`);
  }
  for (const [id, o] of model) expect(ops.take(id)).toBe(o);
  expect(ops.size).toBe(0);
  ops.add(nextId, op());
  ops.clear();
  expect(ops.size).toBe(0);
  expect(ops.take(nextId)).toBeUndefined();
});
