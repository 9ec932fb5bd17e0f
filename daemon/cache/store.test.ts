import { LocalEngine } from './engine';
import { itemBytes } from './store';

const k = (s: string) => Buffer.from(s);
const VALUE = 'v'.repeat(40);
const ITEM_BYTES = itemBytes(2, 0, VALUE.length);

/** An engine whose memory holds exactly `capacity` items of two-byte keys and VALUE. */
function engineHolding(capacity: number) {
  const clock = { nowSec: 1_700_000_000 };
  const engine = new LocalEngine({
    memoryLimitBytes: capacity * ITEM_BYTES, itemSizeMaxBytes: 1024, clockSec: () => clock.nowSec,
  });
  return { engine, clock };
}

const set = (engine: LocalEngine, key: string, exptime = 0) =>
  engine.mutate({ op: 'store', mode: 'set', key: k(key), value: k(VALUE), flags: 0, exptime });
const present = (engine: LocalEngine, keys: string[]) => keys.filter((key) => engine.get(k(key), false) !== undefined);
const order = (engine: LocalEngine) => [...engine.store.entries()].map((item) => item.id);

describe('LRU order of the item store', () => {
  test('a hit and a re-set both make a key the newest; eviction takes the oldest', () => {
    const { engine } = engineHolding(3);
    for (const key of ['k1', 'k2', 'k3']) set(engine, key);
    expect(engine.get(k('k1'))).toBeDefined(); // hit: k1 becomes newest
    set(engine, 'k2'); // re-set: k2 becomes newest
    expect(order(engine)).toEqual(['k3', 'k1', 'k2']);
    set(engine, 'k4'); // full: evicts k3
    expect(present(engine, ['k1', 'k2', 'k3', 'k4'])).toEqual(['k1', 'k2', 'k4']);
    set(engine, 'k5'); // then k1
    expect(present(engine, ['k1', 'k2', 'k4', 'k5'])).toEqual(['k2', 'k4', 'k5']);
    expect(engine.store.stats()).toMatchObject({ currItems: 3, evictions: 2, usedBytes: 3 * ITEM_BYTES });
  });

  test('a get that does not bump leaves the order alone', () => {
    const { engine } = engineHolding(2);
    set(engine, 'k1');
    set(engine, 'k2');
    expect(engine.get(k('k1'), false)).toBeDefined();
    set(engine, 'k3');
    expect(present(engine, ['k1', 'k2', 'k3'])).toEqual(['k2', 'k3']);
  });

  test('deleting from the middle, the oldest and the newest keeps the list whole', () => {
    const { engine } = engineHolding(10);
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) set(engine, key);
    for (const key of ['k3', 'k1', 'k5']) expect(engine.mutate({ op: 'delete', key: k(key) }).status).toBe('DELETED');
    expect(order(engine)).toEqual(['k2', 'k4']);
    set(engine, 'k1');
    expect(order(engine)).toEqual(['k2', 'k4', 'k1']);
    expect(engine.store.stats()).toMatchObject({ currItems: 3, usedBytes: 3 * ITEM_BYTES });
  });

  test('flush_all empties the order; later items fill it again', () => {
    const { engine } = engineHolding(3);
    for (const key of ['k1', 'k2', 'k3']) set(engine, key);
    engine.mutate({ op: 'flush', delay: 0 });
    expect(order(engine)).toEqual([]);
    for (const key of ['k4', 'k5', 'k6', 'k7']) set(engine, key);
    expect(order(engine)).toEqual(['k5', 'k6', 'k7']);
  });

  test('a set over an expired item replaces it and counts it reclaimed, as a lookup would', () => {
    const { engine, clock } = engineHolding(3);
    set(engine, 'k1', 10);
    clock.nowSec += 11;
    set(engine, 'k1');
    expect(engine.get(k('k1'), false)?.exptimeSec).toBe(0);
    expect(engine.store.stats()).toMatchObject({ currItems: 1, reclaimed: 1, expiredUnfetched: 1, usedBytes: ITEM_BYTES });
  });
});
