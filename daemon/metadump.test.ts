/**
 * metadump over a large store: formatted over several turns (each a chunk of items), in LRU order,
 * with an item replaced between turns dumped as it is then and one removed left out.
 */
import { slabClassifier } from './cache/slab-classes';
import { ItemStore } from './cache/store';
import { METADUMP_CHUNK_ITEMS, metadumpText } from './metadump';

const NOW = 1_700_000_000;

function put(store: ItemStore, key: string): void {
  store.apply({ kind: 'put', key: Buffer.from(key), value: Buffer.from('v'), flags: 0, exptimeSec: 0, cas: store.lastCas + 1n, storedAtSec: NOW, stale: false, keyBinary: false });
}

it('formats a large store in chunks, between which the store may change', async () => {
  const store = new ItemStore(1 << 30, () => NOW, slabClassifier(1024 * 1024));
  const n = 2 * METADUMP_CHUNK_ITEMS + 10;
  for (let i = 0; i < n; i++) put(store, `k${i}`);
  let pauses = 0;
  const text = await metadumpText(store, undefined, async () => {
    pauses++;
    if (pauses === 1) {
      // Between the first and second chunk: one item not yet formatted goes, another is replaced.
      store.apply({ kind: 'delete', key: Buffer.from(`k${n - 1}`) });
      put(store, `k${n - 2}`);
    }
    return true;
  });
  expect(pauses).toBe(2);
  const keys = text.split('\n').filter((l) => l.startsWith('key=')).map((l) => /^key=(\S+)/.exec(l)![1]);
  expect(keys).toEqual(Array.from({ length: n - 1 }, (_, i) => `k${i}`));
  // The replaced item, as it is now (its new CAS).
  expect(text).toContain(`key=k${n - 2} exp=-1 la=${NOW} cas=${n + 1} `);
  expect(text.endsWith('END\r\n')).toBe(true);
});

it('stops formatting once the pause says the client is gone', async () => {
  const store = new ItemStore(1 << 30, () => NOW, slabClassifier(1024 * 1024));
  for (let i = 0; i < 4 * METADUMP_CHUNK_ITEMS; i++) put(store, `k${i}`);
  let pauses = 0;
  const text = await metadumpText(store, undefined, async () => ++pauses < 2);
  expect(pauses).toBe(2);
  // The first two chunks, then nothing (not even END: nobody is there to read it).
  expect(text.split('\n').filter((l) => l.startsWith('key=')).length).toBe(2 * METADUMP_CHUNK_ITEMS);
  expect(text).not.toContain('END');
});
