/**
 * The fast path for `set` and `get` lines must be invisible: whenever it accepts a line, its outcome
 * equals the general parser's. Lines are generated near the fast forms (odd keys, numbers at the
 * digit limits, stray spaces, noreply variants) so both the accepted and the declined side are hit.
 */
import * as fc from 'fast-check';
import { parseFastLine } from '../../protocol/ascii/fast-line';
import { parseLine } from '../../protocol/ascii/line';
import type { LineLimits } from '../../protocol/ascii/line';

const SEED = Number(process.env.FAST_LINE_SEED ?? 20261125);

const limits: LineLimits = {
  maxKeyBytes: 250,
  // Small enough that generated sizes cross it.
  maxValueBytes: (keyBytes, flags) => 4096 - keyBytes - (flags !== 0 ? 4 : 0),
};

const keyByte = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const key = fc.oneof(
  fc.array(keyByte, { minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.integer({ min: 245, max: 255 }).map((n) => 'k'.repeat(n)),
  fc.constantFrom('noreply', 'get', 'set', ''),
);
const number = fc.oneof(
  fc.integer({ min: 0, max: 5000 }).map(String),
  fc.constantFrom('0', '007', '999999999', '1000000000', '4294967295', '4294967296', '-1', '+1', '1a', '', ' 1', '2147483648'),
);
const sep = fc.oneof({ weight: 10, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: fc.constantFrom('  ', '\t', '\0') });
const tail = fc.constantFrom('', ' noreply', ' noreplyx', ' norepl', ' noreply ', ' 1', ' ');

const setLine = fc
  .tuple(fc.constantFrom('set', 'get', 'sets', 'bet'), sep, key, sep, number, sep, number, sep, number, tail)
  .map((parts) => parts.join(''));
const getLine = fc.tuple(fc.constantFrom('get', 'gets', 'set', 'ge'), sep, key, fc.constantFrom('', ' ', ' k2', 'x')).map((p) => p.join(''));

describe('ascii fast line path', () => {
  it('agrees with the general parser on every line it accepts', () => {
    let accepted = 0;
    let declined = 0;
    fc.assert(
      fc.property(fc.oneof(setLine, getLine), (text) => {
        const bytes = Buffer.from(`xx${text}yy`, 'latin1');
        const fast = parseFastLine(bytes, 2, bytes.length - 2, limits);
        if (fast === undefined) {
          declined++;
          return;
        }
        accepted++;
        expect(fast).toEqual(parseLine(text, limits));
      }),
      { seed: SEED, numRuns: 20000 },
    );
    // Both sides of the fast path must have been exercised for the comparison to mean anything.
    expect(accepted).toBeGreaterThan(500);
    expect(declined).toBeGreaterThan(1000);
  });

  it('takes the common forms and leaves the rest to the general parser', () => {
    const at = (text: string) => {
      const b = Buffer.from(text, 'latin1');
      return parseFastLine(b, 0, b.length, limits);
    };
    expect(at('set k 1 2 3')).toEqual(parseLine('set k 1 2 3', limits));
    expect(at('set k 1 2 3 noreply')).toEqual(parseLine('set k 1 2 3 noreply', limits));
    expect(at('get k')).toEqual(parseLine('get k', limits));
    for (const other of ['get a b', 'gets k', 'set k 1 2 3 4', 'set k 1 2 99999', 'set  k 1 2 3', 'set k -1 2 3', 'add k 0 0 1']) {
      expect(at(other)).toBeUndefined();
    }
  });
});
