import { LocalEngine } from './engine';
import { storedNumber } from './numeric';
import { itemBytes } from './store';

const k = (s: string) => Buffer.from(s);

function engineAt(startSec: number, memoryLimitBytes = 64 * 1024 * 1024) {
  const clock = { nowSec: startSec };
  const engine = new LocalEngine({ memoryLimitBytes, itemSizeMaxBytes: 1024 * 1024, clockSec: () => clock.nowSec });
  return { engine, clock };
}

function set(engine: LocalEngine, key: string, value: string, exptime = 0, flags = 0) {
  return engine.mutate({ op: 'store', mode: 'set', key: k(key), value: k(value), flags, exptime });
}

describe('CAS uniques follow memcached numbering', () => {
  test('one per store, incr and immediate flush; none for delete, touch or failed stores', () => {
    const { engine } = engineAt(1_700_000_000);
    expect(set(engine, 'a', '1').cas).toBe(1n);
    expect(engine.mutate({ op: 'store', mode: 'add', key: k('a'), value: k('x'), flags: 0, exptime: 0 }).status).toBe('NOT_STORED');
    expect(engine.mutate({ op: 'arith', key: k('a'), incr: true, delta: 5n }).cas).toBe(2n);
    engine.mutate({ op: 'touch', key: k('a'), exptime: 100 });
    expect(engine.get(k('a'))?.cas).toBe(2n);
    engine.mutate({ op: 'delete', key: k('a') });
    engine.mutate({ op: 'flush', delay: 0 });
    expect(set(engine, 'b', 'v').cas).toBe(4n);
  });

  test('cas succeeds only with the current unique', () => {
    const { engine } = engineAt(1_700_000_000);
    const first = set(engine, 'a', 'x').cas!;
    const stale = engine.mutate({ op: 'store', mode: 'cas', key: k('a'), value: k('y'), flags: 0, exptime: 0, compareCas: first + 7n });
    expect(stale.status).toBe('EXISTS');
    const ok = engine.mutate({ op: 'store', mode: 'cas', key: k('a'), value: k('y'), flags: 0, exptime: 0, compareCas: first });
    expect(ok.status).toBe('STORED');
    expect(engine.mutate({ op: 'store', mode: 'cas', key: k('zz'), value: k('y'), flags: 0, exptime: 0, compareCas: 1n }).status).toBe('NOT_FOUND');
  });
});

describe('incr/decr', () => {
  test('decr pads a shorter number with spaces, incr grows it, decr floors at 0, incr wraps at 2^64', () => {
    const { engine } = engineAt(1_700_000_000);
    set(engine, 'n', '10');
    expect(engine.mutate({ op: 'arith', key: k('n'), incr: false, delta: 1n }).value).toBe(9n);
    expect(engine.get(k('n'))?.value.toString()).toBe('9 ');
    expect(engine.mutate({ op: 'arith', key: k('n'), incr: true, delta: 991n }).value).toBe(1000n);
    expect(engine.get(k('n'))?.value.toString()).toBe('1000');
    expect(engine.mutate({ op: 'arith', key: k('n'), incr: false, delta: 5000n }).value).toBe(0n);
    set(engine, 'big', '18446744073709551615');
    expect(engine.mutate({ op: 'arith', key: k('big'), incr: true, delta: 2n }).value).toBe(1n);
  });

  test('non-numeric values are refused and left alone', () => {
    const { engine } = engineAt(1_700_000_000);
    set(engine, 'a', 'abc');
    set(engine, 'e', '');
    expect(engine.mutate({ op: 'arith', key: k('a'), incr: true, delta: 1n }).status).toBe('NON_NUMERIC');
    expect(engine.mutate({ op: 'arith', key: k('e'), incr: true, delta: 1n }).status).toBe('NON_NUMERIC');
    expect(engine.get(k('a'))?.value.toString()).toBe('abc');
  });

  test('stored numbers parse as memcached parses them', () => {
    expect(storedNumber(k('12'))).toBe(12n);
    expect(storedNumber(k(' 12 '))).toBe(12n);
    expect(storedNumber(k('12a'))).toBeUndefined();
    expect(storedNumber(k('-1'))).toBeUndefined();
    expect(storedNumber(k('18446744073709551616'))).toBeUndefined();
    expect(storedNumber(k('abc'))).toBeUndefined();
    expect(storedNumber(k('   '))).toBeUndefined();
    expect(storedNumber(Buffer.from('42\0junk'))).toBe(42n);
  });
});

describe('expiry rules', () => {
  test('relative up to 30 days, absolute after, negative means expired', () => {
    const { engine, clock } = engineAt(1_700_000_000);
    set(engine, 'rel', 'v', 10);
    set(engine, 'abs', 'v', 1_700_000_020);
    set(engine, 'neg', 'v', -1);
    set(engine, 'past', 'v', 1_600_000_000);
    expect(engine.get(k('neg'))).toBeUndefined();
    expect(engine.get(k('past'))).toBeUndefined();
    clock.nowSec += 9;
    expect(engine.get(k('rel'))).toBeDefined();
    clock.nowSec += 1;
    expect(engine.get(k('rel'))).toBeUndefined();
    expect(engine.get(k('abs'))).toBeDefined();
    clock.nowSec += 10;
    expect(engine.get(k('abs'))).toBeUndefined();
  });

  test('a delayed flush_all removes items stored before it, once its time comes', () => {
    const { engine, clock } = engineAt(1_700_000_000);
    set(engine, 'old', 'v');
    engine.mutate({ op: 'flush', delay: 5 });
    expect(engine.get(k('old'))).toBeDefined();
    clock.nowSec += 5;
    expect(engine.get(k('old'))).toBeUndefined();
    set(engine, 'new', 'v');
    clock.nowSec += 1;
    expect(engine.get(k('new'))).toBeDefined();
  });
});

describe('memory limit', () => {
  test('least recently used items are evicted, recently read ones survive', () => {
    const valueBytes = 1000;
    const perItem = itemBytes(4, 0, valueBytes);
    const { engine } = engineAt(1_700_000_000, perItem * 10);
    for (let i = 0; i < 10; i++) set(engine, `k${i.toString().padStart(3, '0')}`, 'x'.repeat(valueBytes));
    expect(engine.get(k('k000'))).toBeDefined(); // now most recently used
    for (let i = 10; i < 15; i++) set(engine, `k${i.toString().padStart(3, '0')}`, 'x'.repeat(valueBytes));
    const s = engine.store.stats();
    expect(s.usedBytes).toBeLessThanOrEqual(perItem * 10);
    expect(s.evictions).toBe(5);
    expect(engine.get(k('k000'))).toBeDefined();
    expect(engine.get(k('k001'))).toBeUndefined();
  });

  test('a value over the item size limit is refused and a set drops the old value', () => {
    const { engine } = engineAt(1_700_000_000);
    set(engine, 'a', 'small');
    const max = engine.maxValueBytes(1, 0);
    expect(engine.mutate({ op: 'store', mode: 'set', key: k('a'), value: Buffer.alloc(max + 1), flags: 0, exptime: 0 }).status).toBe('TOO_LARGE');
    expect(engine.get(k('a'))).toBeUndefined();
    expect(engine.mutate({ op: 'store', mode: 'set', key: k('a'), value: Buffer.alloc(max), flags: 0, exptime: 0 }).status).toBe('STORED');
  });
});
