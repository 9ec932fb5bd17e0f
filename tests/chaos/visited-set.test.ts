import { VisitedSet } from '../../loadgen/chaos/visited-set';
import { makeRng } from '../../loadgen/rng';

// The search's memo: a pair it reports as new must be new, and one it already holds must never be
// reported new again, across every growth of the table (a lost entry makes the search redo work,
// a false "seen" would skip a branch and could hide a violation).
test('the visited set keeps every pair across growth and tells new from seen exactly', () => {
  const seed = 20261126;
  const rng = makeRng(seed);
  const set = new VisitedSet();
  const pairs: Array<[number, number, number]> = [];
  const known = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    // Few distinct states and a narrow hash range for some, so equal halves and repeats occur.
    const h1 = i % 5 === 0 ? 0 : Math.floor(rng.next() * 2 ** 32) >>> 0;
    const h2 = i % 7 === 0 ? 0 : Math.floor(rng.next() * 2 ** 32) >>> 0;
    const stateId = rng.below(4);
    pairs.push([h1, h2, stateId]);
    const k = `${h1}:${h2}:${stateId}`;
    const isNew = !known.has(k);
    known.add(k);
    if (set.add(h1, h2, stateId) !== isNew) throw new Error(`seed ${seed}: pair ${i} (${k}) reported ${isNew ? 'seen' : 'new'}`);
  }
  expect(set.size).toBe(known.size);
  for (const [h1, h2, s] of pairs) expect(set.add(h1, h2, s)).toBe(false);
  // The same set hash under another state is another pair.
  expect(set.add(pairs[0][0], pairs[0][1], 99)).toBe(true);
});
