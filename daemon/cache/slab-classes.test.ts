/**
 * Slab classes and the store's running per-class tallies: the binary search finds the class the
 * definition names, and after any seeded mix of sets, deletes, evictions and flushes the tallies
 * equal a recount of the items (and the LRU walk finds each class's oldest access).
 */
import { Rng, seedFromEnv } from '../../tests/helpers/rng';
import { slabClassifier, slabClassOf, slabClassSizes } from './slab-classes';
import { ItemStore } from './store';

it('finds the first class whose chunk holds the item, for every size and several -I', () => {
  for (const itemSizeMax of [1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024]) {
    const sizes = slabClassSizes(itemSizeMax);
    for (let bytes = 1; bytes <= itemSizeMax + 10; bytes += bytes < 5000 ? 1 : 1 + (bytes >> 8)) {
      const first = sizes.findIndex((chunk) => chunk >= bytes);
      expect(slabClassOf(bytes, sizes)).toBe(first < 0 ? sizes.length : first + 1);
    }
  }
});

it('keeps per-class counts and bytes equal to a recount, whatever happens to the items', () => {
  const seed = seedFromEnv('SLAB_SEED', 4242);
  const rng = new Rng(seed);
  let nowSec = 1_700_000_000;
  const classOf = slabClassifier(64 * 1024);
  const store = new ItemStore(2 * 1024 * 1024, () => nowSec, classOf, 8);
  for (let step = 0; step < 20_000; step++) {
    const key = Buffer.from(`k${rng.int(2000)}`);
    const r = rng.int(100);
    if (r < 70) {
      store.apply({ kind: 'put', key, value: Buffer.alloc(rng.int(r < 10 ? 30_000 : 500)), flags: rng.int(2), exptimeSec: 0, cas: store.lastCas + 1n, storedAtSec: nowSec, stale: false, keyBinary: false });
    } else if (r < 90) store.apply({ kind: 'delete', key });
    else if (r < 95) {
      const found = store.lookup(key);
      if (typeof found !== 'string') store.bump(found);
    } else if (r < 96) store.apply({ kind: 'flush', immediate: true, oldestLiveSec: 0, cas: store.lastCas + 1n });
    else nowSec++;
    if (step % 1000 !== 999) continue;
    const recount = new Map<number, { count: number; bytes: number; oldest: number }>();
    for (const item of store.entries()) {
      const c = recount.get(classOf(item.bytes)) ?? { count: 0, bytes: 0, oldest: Infinity };
      c.count++;
      c.bytes += item.bytes;
      c.oldest = Math.min(c.oldest, item.lastAccessSec);
      recount.set(classOf(item.bytes), c);
    }
    const tally = store.classTally();
    expect({ seed, step, tally }).toEqual({ seed, step, tally: [...recount.entries()].sort((a, b) => a[0] - b[0]).map(([cls, c]) => ({ cls, count: c.count, bytes: c.bytes })) });
    const oldest = store.oldestAccessByClass(new Set(recount.keys()));
    for (const [cls, c] of recount) expect({ seed, step, cls, oldest: oldest.get(cls) }).toEqual({ seed, step, cls, oldest: c.oldest });
  }
});
