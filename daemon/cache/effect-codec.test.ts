import fc from 'fast-check';
import { decodeEffects, decodeEntry, encodeEffects } from './effect-codec';
import type { Effect } from './effects';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const key = fc.uint8Array({ minLength: 1, maxLength: 250 }).map((a) => Buffer.from(a));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const effect: fc.Arbitrary<Effect> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key, value: bytes(4096), flags: u32, exptimeSec: u32, cas: u64, storedAtSec: u32, stale: fc.boolean(), keyBinary: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('touch' as const), key, exptimeSec: u32 }),
  fc.record({ kind: fc.constant('invalidate' as const), key, cas: u64, exptimeSec: fc.option(u32, { nil: undefined }) }),
  fc.record({ kind: fc.constant('flush' as const), immediate: fc.boolean(), oldestLiveSec: u32, cas: u64 }),
);

test('every effect list survives encode/decode unchanged', () => {
  fc.assert(fc.property(fc.array(effect, { maxLength: 8 }), (effects) => {
    expect(decodeEffects(encodeEffects(effects))).toEqual(effects);
  }), { seed: 42, numRuns: 500 });
});

test('outcomes of forwarded writes travel in the entry beside its effects, and are no effect on the cache', () => {
  const outcome = fc.record({ tag: fc.record({ origin: u32, session: u32, seq: u32 }), result: bytes(200) });
  fc.assert(fc.property(fc.array(effect, { maxLength: 4 }), fc.array(outcome, { maxLength: 3 }), (effects, outcomes) => {
    const entry = encodeEffects(effects, outcomes);
    expect(decodeEntry(entry)).toEqual({ effects, outcomes });
    expect(decodeEffects(entry)).toEqual(effects);
  }), { seed: 43, numRuns: 300 });
});

test('an annotation kind this build does not know is skipped; an unknown effect kind is refused', () => {
  const put = encodeEffects([{ kind: 'put', key: Buffer.from('k'), value: Buffer.from('v'), flags: 0, exptimeSec: 0, cas: 1n, storedAtSec: 0, stale: false, keyBinary: false }]);
  const withAnnotation = Buffer.concat([Buffer.from([2, 0]), put.subarray(2), Buffer.from([200, 3, 0, 0, 0, 7, 7, 7])]);
  expect(decodeEntry(withAnnotation)).toEqual({ effects: decodeEffects(put), outcomes: [] });
  const withUnknownEffect = Buffer.concat([Buffer.from([2, 0]), put.subarray(2), Buffer.from([9])]);
  expect(() => decodeEntry(withUnknownEffect)).toThrow(/unknown effect kind 9/);
  expect(() => decodeEntry(Buffer.concat([Buffer.from([2, 0]), put.subarray(2), Buffer.from([200, 9, 0, 0, 0, 7])]))).toThrow(/corrupt effect entry/);
});

test('a truncated or padded entry is refused, never half-applied', () => {
  const entry = encodeEffects([{ kind: 'put', key: Buffer.from('k'), value: Buffer.from('value'), flags: 1, exptimeSec: 0, cas: 9n, storedAtSec: 5, stale: false, keyBinary: false }]);
  for (let cut = 0; cut < entry.length; cut++) expect(() => decodeEffects(entry.subarray(0, cut))).toThrow(/corrupt effect entry/);
  expect(() => decodeEffects(Buffer.concat([entry, Buffer.from([0])]))).toThrow(/trailing/);
});

test('a stamp makes entries of the same effects differ, and changes nothing a replica applies', () => {
  const effects: Effect[] = [{ kind: 'put', key: Buffer.from('k'), value: Buffer.from('v'), flags: 0, exptimeSec: 0, cas: 7n, storedAtSec: 1, stale: false, keyBinary: false }];
  const a = encodeEffects(effects, [], { origin: 1, session: 5, seq: 1 });
  const b = encodeEffects(effects, [], { origin: 1, session: 5, seq: 2 });
  expect(a.equals(b)).toBe(false);
  expect(a.equals(encodeEffects(effects, [], { origin: 1, session: 5, seq: 1 }))).toBe(true);
  expect(decodeEntry(a)).toEqual({ effects, outcomes: [] });
  expect(decodeEntry(encodeEffects([], [], { origin: 2, session: 0, seq: 0 }))).toEqual({ effects: [], outcomes: [] });
  // A stamp of the wrong size is a corrupt entry, not skipped.
  const bad = Buffer.from(a);
  bad.writeUInt32LE(11, bad.length - 16);
  expect(() => decodeEntry(bad)).toThrow(/stamp of 11 bytes/);
});

test('a CAS unique is 8 little-endian bytes on the wire (what older builds wrote and read), and one past u64 is refused', () => {
  const cas = 0x0123456789abcdefn;
  const entry = encodeEffects([{ kind: 'flush', immediate: false, oldestLiveSec: 0, cas }]);
  // count(2) kind(1) immediate(1) oldestLiveSec(4), then the CAS.
  expect(entry.readBigUInt64LE(8)).toBe(cas);
  expect([...entry.subarray(8, 16)]).toEqual([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
  const written = Buffer.from(entry);
  written.writeBigUInt64LE(0xfedcba9876543210n, 8);
  expect(decodeEffects(written)).toEqual([{ kind: 'flush', immediate: false, oldestLiveSec: 0, cas: 0xfedcba9876543210n }]);
  expect(() => encodeEffects([{ kind: 'flush', immediate: false, oldestLiveSec: 0, cas: 1n << 64n }])).toThrow(/out of range/);
  expect(() => encodeEffects([{ kind: 'flush', immediate: false, oldestLiveSec: 0, cas: -1n }])).toThrow(/out of range/);
});
