/**
 * -C: memcached 1.6.18 items carry no CAS unique. Every item reads CAS 0, a store ignores the CAS
 * a client sends (a `cas` store can then never match), and items are 8 bytes smaller.
 */
import { LocalEngine } from './engine';
import { itemBytes } from './store';
import type { StoreMode } from './types';

const k = (s: string) => Buffer.from(s);
const START_SEC = 1_700_000_000;
const ITEM_SIZE_MAX_BYTES = 1024;

function engineWithCas(casEnabled: boolean) {
  const clock = { nowSec: START_SEC };
  const engine = new LocalEngine({
    memoryLimitBytes: 1024 * 1024, itemSizeMaxBytes: ITEM_SIZE_MAX_BYTES, casEnabled, clockSec: () => clock.nowSec,
  });
  return { engine, clock };
}

function store(engine: LocalEngine, mode: StoreMode, key: string, value: string, compareCas?: bigint) {
  return engine.mutate({ op: 'store', mode, key: k(key), value: k(value), flags: 0, exptime: 0, compareCas });
}

const value = (engine: LocalEngine, key: string) => engine.get(k(key), false)?.value.toString();

describe('-C: no CAS uniques', () => {
  test('every store, incr, vivify and invalidation leaves CAS 0', () => {
    const { engine } = engineWithCas(false);
    expect(store(engine, 'set', 'a', '1')).toEqual({ status: 'STORED', cas: 0n });
    expect(engine.mutate({ op: 'arith', key: k('a'), incr: true, delta: 1n })).toMatchObject({ status: 'OK', value: 2n, cas: 0n });
    expect(engine.mutate({ op: 'arith', key: k('n'), incr: true, delta: 1n, create: { initial: 7n, exptime: 0 } })).toMatchObject({ cas: 0n });
    expect(engine.mutate({ op: 'metaGet', key: k('v'), vivifyExptime: 30 }).item?.cas).toBe(0n);
    engine.mutate({ op: 'delete', key: k('a'), invalidate: true });
    expect(engine.get(k('a'))).toMatchObject({ cas: 0n, stale: true });
    expect(engine.get(k('n'))?.cas).toBe(0n);
  });

  test('a cas store answers EXISTS for a stored key whatever unique it sends, NOT_FOUND for a missing one', () => {
    const { engine } = engineWithCas(false);
    store(engine, 'set', 'a', 'x');
    expect(store(engine, 'cas', 'a', 'y', 0n).status).toBe('EXISTS');
    expect(store(engine, 'cas', 'a', 'y', 5n).status).toBe('EXISTS');
    expect(store(engine, 'cas', 'miss', 'y', 0n).status).toBe('NOT_FOUND');
    const staleWriteBack = engine.mutate({ op: 'store', mode: 'cas', key: k('a'), value: k('z'), flags: 0, exptime: 0, compareCas: 5n, invalidate: true });
    expect(staleWriteBack.status).toBe('EXISTS');
    expect(value(engine, 'a')).toBe('x');
  });

  test('append ignores a CAS; delete and incr compare theirs with the 0 every item has', () => {
    const { engine } = engineWithCas(false);
    store(engine, 'set', 'a', '1');
    expect(store(engine, 'append', 'a', '2', 3n).status).toBe('STORED');
    expect(engine.mutate({ op: 'arith', key: k('a'), incr: true, delta: 1n, compareCas: 3n }).status).toBe('EXISTS');
    expect(engine.mutate({ op: 'delete', key: k('a'), compareCas: 5n }).status).toBe('EXISTS');
    expect(value(engine, 'a')).toBe('12');
    expect(engine.mutate({ op: 'delete', key: k('a'), compareCas: 0n }).status).toBe('DELETED');
  });

  test('items are 8 bytes smaller: 8 more value bytes fit under -I and the store counts 8 fewer', () => {
    const off = engineWithCas(false).engine;
    const on = engineWithCas(true).engine;
    expect(off.maxValueBytes(1, 0)).toBe(on.maxValueBytes(1, 0) + 8);
    expect(off.maxValueBytes(1, 0)).toBe(ITEM_SIZE_MAX_BYTES - itemBytes(1, 0, 0, 0));
    const largest = 'v'.repeat(off.maxValueBytes(1, 0));
    expect(store(off, 'set', 'a', largest).status).toBe('STORED');
    expect(store(off, 'set', 'b', largest + 'v').status).toBe('TOO_LARGE');
    expect(store(on, 'set', 'a', largest).status).toBe('TOO_LARGE');
    expect(off.store.stats().usedBytes).toBe(ITEM_SIZE_MAX_BYTES);
  });

  test('flush_all also flushes what is stored later in the same second (no CAS tells them apart)', () => {
    const { engine, clock } = engineWithCas(false);
    store(engine, 'set', 'old', 'x');
    engine.mutate({ op: 'flush', delay: 0 });
    expect(engine.store.stats()).toMatchObject({ currItems: 0, usedBytes: 0 }); // dropped at once
    expect(value(engine, 'old')).toBeUndefined();
    store(engine, 'set', 'same', 'x');
    expect(value(engine, 'same')).toBeUndefined();
    clock.nowSec += 1;
    store(engine, 'set', 'next', 'x');
    expect(value(engine, 'next')).toBe('x');
    // With CAS a flush takes only what was stored before it.
    const withCas = engineWithCas(true).engine;
    withCas.mutate({ op: 'flush', delay: 0 });
    store(withCas, 'set', 'same', 'x');
    expect(value(withCas, 'same')).toBe('x');
  });

  test('a delayed flush_all takes effect at its second, including what is stored in that second', () => {
    const { engine, clock } = engineWithCas(false);
    engine.mutate({ op: 'flush', delay: 2 });
    store(engine, 'set', 'early', 'x');
    clock.nowSec += 1;
    expect(value(engine, 'early')).toBe('x');
    clock.nowSec += 1;
    expect(value(engine, 'early')).toBeUndefined();
    store(engine, 'set', 'atFlush', 'x');
    expect(value(engine, 'atFlush')).toBeUndefined();
    clock.nowSec += 1;
    store(engine, 'set', 'after', 'x');
    expect(value(engine, 'after')).toBe('x');
  });
});
