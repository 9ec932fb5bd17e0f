/**
 * Fuzzing the binary protocol parser (protocol/binary): arbitrary bytes, valid request pipelines
 * mutated (bit flips, truncation, duplication, inserted bytes, extreme 32-bit lengths in the
 * header), each fed whole, in random chunks and byte by byte.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as fc from 'fast-check';
import { check } from './fuzz-config';
import { driveBinary } from './drive';
import { binaryStreamArb, knownRequestArb } from './gen-binary';
import { applyMutations, bytewise, cutsArb, mutationsArb, NASTY_U32, split } from './mutate';
import { REQUEST_MAGIC } from '../../protocol/binary/constants';

const bytesArb = fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a));
/** Random bytes behind a request magic, so the header's fields are what gets fuzzed. */
const magicBytesArb = fc.uint8Array({ minLength: 24, maxLength: 300 }).map((a) => {
  const b = Buffer.from(a);
  b[0] = REQUEST_MAGIC;
  return b;
});
const mutatedArb = fc.tuple(binaryStreamArb, mutationsArb).map(([stream, mutations]) => applyMutations(stream, mutations));
/** A valid pipeline whose header fields at one request are set to extreme values. */
const extremeHeaderArb = fc
  .tuple(binaryStreamArb, fc.constantFrom(2, 4, 8), fc.integer({ min: 0, max: NASTY_U32.length - 1 }))
  .map(([stream, field, value]) => {
    const out = Buffer.from(stream);
    if (field === 8) out.writeUInt32BE(NASTY_U32[value], 8);
    else if (field === 2) out.writeUInt16BE(NASTY_U32[value] & 0xffff, 2);
    else out[4] = NASTY_U32[value] & 0xff;
    return out;
  });

const inputArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 1, arbitrary: bytesArb },
  { weight: 2, arbitrary: magicBytesArb },
  { weight: 6, arbitrary: mutatedArb },
  { weight: 2, arbitrary: extremeHeaderArb },
  { weight: 1, arbitrary: binaryStreamArb },
);

describe('binary parser: fuzzed', () => {
  test('never throws, stays within its memory bound, emits a bounded number of commands', () => {
    check(fc.property(inputArb, cutsArb, (input, cuts) => {
      driveBinary([input]);
      driveBinary(split(input, cuts));
    }), 2000);
  });

  test('the same commands for any chunking, down to one byte at a time', () => {
    check(fc.property(inputArb, cutsArb, (input, cuts) => {
      const whole = driveBinary([input]);
      const chunked = driveBinary(split(input, cuts));
      expect(chunked.commands).toEqual(whole.commands);
      expect(chunked.closed).toBe(whole.closed);
      expect(chunked.finalBufferedBytes).toBe(whole.finalBufferedBytes);
      if (input.length <= 2048) expect(driveBinary(bytewise(input)).commands).toEqual(whole.commands);
    }), 1000);
  });

  test('valid pipelines: one command per request sent, nothing left over (unless one closed)', () => {
    check(fc.property(fc.array(knownRequestArb, { minLength: 1, maxLength: 12 }), cutsArb, (requests, cuts) => {
      const driven = driveBinary(split(Buffer.concat(requests), cuts));
      // Over-long keys and the like are answered with a closing error, as memcached does.
      if (driven.closed) return;
      expect(driven.finalBufferedBytes).toBe(0);
      expect(driven.commands).toHaveLength(requests.length);
    }), 300);
  });

  test('a closed parser ignores everything after', () => {
    check(fc.property(inputArb, inputArb, (first, after) => {
      const quit = Buffer.alloc(24);
      quit[0] = REQUEST_MAGIC;
      quit[1] = 0x07;
      const driven = driveBinary([Buffer.concat([quit, first]), after]);
      expect(driven.closed).toBe(true);
      expect(driven.commands).toHaveLength(1);
    }), 200);
  });
});
