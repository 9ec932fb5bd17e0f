/** Pure parts of the load generator: keys, request bytes, medians and the bench table. */
import { BENCH_TARGETS, median, medianRows, medianTable } from '../../loadgen/bench-table';
import { buildKeys, buildValue } from '../../loadgen/keyspace';
import { parseMemcslapSeconds } from '../../loadgen/memcslap';
import { makeRng } from '../../loadgen/rng';
import { OP_GET, OP_SET, encodeRequests, requestBytes, writeRequest } from '../../loadgen/wire/requests';
import { TEST_SEED } from './support';

describe('keyspace', () => {
  test.each([[1, 36], [2, 1000], [16, 5000], [250, 50]])('key size %i: %i distinct printable keys of exactly that size', (size, count) => {
    const keys = buildKeys(count, size, makeRng(TEST_SEED));
    expect(new Set(keys.map((k) => k.toString('latin1'))).size).toBe(count);
    for (const k of keys) {
      expect(k.length).toBe(size);
      expect(k.toString('latin1')).toMatch(/^[A-Za-z0-9]+$/);
    }
  });

  test('same seed, same keys and value; another seed, other keys', () => {
    expect(buildKeys(50, 16, makeRng(1))).toEqual(buildKeys(50, 16, makeRng(1)));
    expect(buildValue(100, makeRng(1))).toEqual(buildValue(100, makeRng(1)));
    expect(buildKeys(50, 16, makeRng(1))).not.toEqual(buildKeys(50, 16, makeRng(2)));
  });

  test('impossible keyspaces are refused', () => {
    expect(() => buildKeys(37, 1, makeRng(1))).toThrow(/do not fit/);
    expect(() => buildKeys(1, 251, makeRng(1))).toThrow(/key size/);
    expect(() => buildKeys(1, 0, makeRng(1))).toThrow(/key size/);
    expect(() => buildValue(-1, makeRng(1))).toThrow(/value size/);
  });
});

describe('request bytes', () => {
  const keys = [Buffer.from('alpha'), Buffer.from('b')];
  const value = Buffer.from('0123456789');
  const encode = (protocol: 'text' | 'meta' | 'binary', op: 0 | 1, key: number): Buffer => {
    const enc = encodeRequests(protocol, keys, value);
    const out = Buffer.alloc(requestBytes(enc, op, key));
    expect(writeRequest(enc, op, key, out, 0)).toBe(out.length);
    return out;
  };

  test('text and meta', () => {
    expect(encode('text', OP_GET, 0).toString()).toBe('get alpha\r\n');
    expect(encode('text', OP_SET, 1).toString()).toBe('set b 0 0 10\r\n0123456789\r\n');
    expect(encode('meta', OP_GET, 1).toString()).toBe('mg b v\r\n');
    expect(encode('meta', OP_SET, 0).toString()).toBe('ms alpha 10\r\n0123456789\r\n');
  });

  test('binary get and set headers', () => {
    const get = encode('binary', OP_GET, 0);
    expect(get.length).toBe(24 + 5);
    expect([get[0], get[1], get.readUInt16BE(2), get[4], get.readUInt32BE(8)]).toEqual([0x80, 0x00, 5, 0, 5]);
    expect(get.subarray(24).toString()).toBe('alpha');
    const set = encode('binary', OP_SET, 1);
    expect(set.length).toBe(24 + 8 + 1 + 10);
    expect([set[0], set[1], set.readUInt16BE(2), set[4], set.readUInt32BE(8)]).toEqual([0x80, 0x01, 1, 8, 19]);
    expect(set.subarray(32).toString()).toBe('b0123456789');
  });
});

describe('bench table', () => {
  test('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  test('ratios against memcached and the verdict', () => {
    const rows = medianRows([
      { workload: 'puts-only', system: 'memcached', throughputPerSec: [100, 90, 110], p50Ns: [10_000, 11_000, 9_000], p99Ns: [50_000, 40_000, 60_000], errors: [0, 0, 0] },
      { workload: 'puts-only', system: 'mucached', throughputPerSec: [80, 70, 75], p50Ns: [11_000, 12_000, 13_000], p99Ns: [70_000, 80_000, 90_000], errors: [0, 0, 0] },
      { workload: 'gets-only', system: 'mucached', throughputPerSec: [10], p50Ns: [1], p99Ns: [1], errors: [2] },
    ]);
    expect(rows[0]).toMatchObject({ throughputRatio: 1, p50Ratio: 1, p99Ratio: 1, runs: 3 });
    expect(rows[1].throughputRatio).toBeCloseTo(0.75);
    expect(rows[1].p50Ratio).toBeCloseTo(1.2);
    expect(rows[1].p99Ratio).toBeCloseTo(1.6);
    expect(Number.isNaN(rows[2].throughputRatio)).toBe(true);
    const table = medianTable(rows).split('\n');
    expect(table).toHaveLength(5);
    expect(table[3]).toMatch(/mucached .* 0\.75x +1\.20x +1\.60x +>=0\.7x req\/s, <=1\.2x p50 +meets target$/);
    expect(BENCH_TARGETS).toMatchObject({ minThroughputRatio: 0.7, maxP50Ratio: 1.2 });
    const slow = medianRows([
      { workload: 'w', system: 'memcached', throughputPerSec: [100], p50Ns: [10], p99Ns: [10], errors: [0] },
      { workload: 'w', system: 'mucached', throughputPerSec: [69], p50Ns: [10], p99Ns: [10], errors: [0] },
    ]);
    expect(medianTable(slow)).toMatch(/BELOW TARGET/);
  });

  test('memcslap output parsing', () => {
    const out = 'Time to set          320000 keys by   16 threads:     4.644 seconds.\n';
    expect(parseMemcslapSeconds(out, 'set')).toBe(4.644);
    expect(parseMemcslapSeconds(out, 'get')).toBeNull();
  });
});
