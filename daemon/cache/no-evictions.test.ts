/**
 * -M on a single node: a store that needs memory beyond the limit fails as memcached 1.6.18's does
 * instead of evicting, once nothing dead is left to reclaim.
 */
import { LocalEngine } from './engine';
import { itemBytes } from './store';
import type { StoreMode } from './types';

const k = (s: string) => Buffer.from(s);
/** Every key here has this many bytes, so every one-byte item costs ITEM_BYTES. */
const KEY_BYTES = 4;
const ITEM_BYTES = itemBytes(KEY_BYTES, 0, 1);
const START_SEC = 1_700_000_000;

/** An engine whose memory holds exactly `capacity` one-byte items, with or without -M. */
function engineHolding(capacity: number, evictions = false) {
  const clock = { nowSec: START_SEC };
  const engine = new LocalEngine({
    memoryLimitBytes: capacity * ITEM_BYTES, itemSizeMaxBytes: 1024, evictions, clockSec: () => clock.nowSec,
  });
  return { engine, clock };
}

function store(engine: LocalEngine, mode: StoreMode, key: string, value = 'x', exptime = 0, compareCas?: bigint) {
  return engine.mutate({ op: 'store', mode, key: k(key), value: k(value), flags: 0, exptime, compareCas }).status;
}

const value = (engine: LocalEngine, key: string) => engine.get(k(key), false)?.value.toString();

/** Fills the engine with k000, k001, ... and returns their names. */
function fill(engine: LocalEngine, count: number): string[] {
  const keys = Array.from({ length: count }, (_, i) => `k${String(i).padStart(KEY_BYTES - 1, '0')}`);
  for (const key of keys) expect(store(engine, 'set', key)).toBe('STORED');
  return keys;
}

describe('-M: a full cache refuses stores instead of evicting', () => {
  test('stores fail with NO_MEMORY, nothing stored is lost, and deleting makes room again', () => {
    const { engine } = engineHolding(4);
    const keys = fill(engine, 4);
    expect(store(engine, 'set', 'new1')).toBe('NO_MEMORY');
    expect(store(engine, 'set', 'new1')).toBe('NO_MEMORY');
    expect(keys.map((key) => value(engine, key))).toEqual(['x', 'x', 'x', 'x']);
    expect(engine.store.stats()).toMatchObject({ evictions: 0, currItems: 4 });
    engine.mutate({ op: 'delete', key: k(keys[0]) });
    expect(store(engine, 'set', 'new1')).toBe('STORED');
    expect(store(engine, 'set', 'new2')).toBe('NO_MEMORY');
  });

  test('without -M the same sequence evicts the least recently used item and stores', () => {
    const { engine } = engineHolding(4, true);
    fill(engine, 4);
    expect(store(engine, 'set', 'new1')).toBe('STORED');
    expect(value(engine, 'k000')).toBeUndefined();
    expect(engine.store.stats().evictions).toBe(1);
  });

  test('every store mode fails before it looks at the stored item, and only set drops it', () => {
    const { engine } = engineHolding(3);
    fill(engine, 3);
    const cas = engine.get(k('k001'), false)!.cas;
    expect(store(engine, 'add', 'k000')).toBe('NO_MEMORY'); // not NOT_STORED
    expect(store(engine, 'replace', 'miss')).toBe('NO_MEMORY'); // not NOT_STORED
    expect(store(engine, 'cas', 'miss', 'y', 0, 5n)).toBe('NO_MEMORY'); // not NOT_FOUND
    expect(store(engine, 'cas', 'k001', 'y', 0, cas)).toBe('NO_MEMORY');
    expect(store(engine, 'append', 'k001', 'y')).toBe('NO_MEMORY');
    expect(store(engine, 'prepend', 'k002', 'y')).toBe('NO_MEMORY');
    expect(['k000', 'k001', 'k002'].map((key) => value(engine, key))).toEqual(['x', 'x', 'x']);
    // memcached unlinks the old item of a set it could not allocate: no stale value outlives it.
    expect(store(engine, 'set', 'k002', 'y')).toBe('NO_MEMORY');
    expect(value(engine, 'k002')).toBeUndefined();
    const meta = engine.mutate({ op: 'store', mode: 'add', key: k('k000'), value: k('y'), flags: 0, exptime: 0, unlinkOnNoMemory: true });
    expect(meta.status).toBe('NOT_STORED'); // the dropped item made room for the new one
  });

  test('meta ms in a mode other than set drops the stored item too when it cannot allocate', () => {
    const { engine } = engineHolding(2);
    fill(engine, 2);
    const r = engine.mutate({ op: 'store', mode: 'replace', key: k('k001'), value: k('y'), flags: 0, exptime: 0, unlinkOnNoMemory: true });
    expect(r.status).toBe('NO_MEMORY');
    expect(value(engine, 'k001')).toBeUndefined();
  });

  test('append needs room for the client item and the combined one at once, else NOT_STORED', () => {
    const { engine } = engineHolding(4);
    fill(engine, 3);
    // Room for one more item: the client's 1-byte item fits, the 2-byte result beside it does not.
    expect(store(engine, 'append', 'k000', 'y')).toBe('NOT_STORED');
    expect(value(engine, 'k000')).toBe('x');
    engine.mutate({ op: 'delete', key: k('k001') });
    engine.mutate({ op: 'delete', key: k('k002') });
    expect(store(engine, 'append', 'k000', 'y')).toBe('STORED');
    expect(value(engine, 'k000')).toBe('xy');
  });

  test('incr fails only when the number grows a digit; a create and a meta vivify fail on a full cache', () => {
    const { engine } = engineHolding(2);
    store(engine, 'set', 'num9', '9');
    store(engine, 'set', 'num1', '1');
    expect(engine.mutate({ op: 'arith', key: k('num9'), incr: true, delta: 1n })).toEqual({ status: 'NO_MEMORY' });
    expect(value(engine, 'num9')).toBe('9');
    expect(engine.mutate({ op: 'arith', key: k('num1'), incr: true, delta: 7n }).value).toBe(8n); // in place
    expect(engine.mutate({ op: 'arith', key: k('num9'), incr: false, delta: 1n }).value).toBe(8n);
    const create = engine.mutate({ op: 'arith', key: k('miss'), incr: true, delta: 1n, create: { initial: 5n, exptime: 0 } });
    expect(create).toEqual({ status: 'NO_MEMORY', creating: true });
    const vivify = engine.mutate({ op: 'metaGet', key: k('miss'), vivifyExptime: 30 });
    expect(vivify).toMatchObject({ vivified: false, win: false });
    expect(vivify.item).toBeUndefined();
    expect(engine.get(k('miss'), false)).toBeUndefined();
  });

  test('expired and flushed items are reclaimed for a store, live ones are not', () => {
    const { engine, clock } = engineHolding(3);
    store(engine, 'set', 'live');
    store(engine, 'set', 'temp', 'x', 10);
    store(engine, 'set', 'more');
    expect(store(engine, 'set', 'new1')).toBe('NO_MEMORY');
    clock.nowSec += 10;
    expect(store(engine, 'set', 'new1')).toBe('STORED');
    expect(engine.store.stats()).toMatchObject({ evictions: 0, reclaimed: 1 });
    engine.mutate({ op: 'flush', delay: 1 });
    clock.nowSec += 1;
    expect(store(engine, 'set', 'new2')).toBe('STORED');
    expect(engine.store.stats().evictions).toBe(0);
  });

  test('a refused store is answered again after an item dies, in the same second or the next', () => {
    const { engine, clock } = engineHolding(2);
    store(engine, 'set', 'live');
    store(engine, 'set', 'temp', 'x', 1);
    expect(store(engine, 'set', 'new1')).toBe('NO_MEMORY');
    // Same second: a touch to a past time kills `temp` at once; the refused sweep must not be trusted.
    engine.mutate({ op: 'touch', key: k('temp'), exptime: -1 });
    expect(store(engine, 'set', 'new1', 'x', 1)).toBe('STORED');
    expect(store(engine, 'set', 'new2')).toBe('NO_MEMORY');
    clock.nowSec += 1; // new1 expires with the clock alone
    expect(store(engine, 'set', 'new2')).toBe('STORED');
  });
});
