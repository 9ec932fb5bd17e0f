/**
 * Mutations of valid protocol input, as plain data (so fast-check can shrink them and print them)
 * applied by one pure function, and arbitrary chunkings of a byte stream. Positions are fractions
 * of the current length, so one mutation list applies to any input.
 */
import * as fc from 'fast-check';
import type { Rng } from '../helpers/rng';

/** Decimal strings that stress number parsing: overflow at 32 and 64 bits, negatives, junk. */
export const NASTY_NUMBERS = [
  '-1', '-0', '0', '00000000000000000001', '2147483645', '2147483646', '2147483647', '2147483648', '-2147483648',
  '-2147483649', '4294967295', '4294967296', '-4294967296', '9223372036854775807', '9223372036854775808',
  '18446744073709551615', '18446744073709551616', '-18446744073709551616', '99999999999999999999999999999',
  '1e3', '0x10', '+5', ' 7', '12abc', '', '-',
];

/** 32-bit values for binary length and id fields. */
export const NASTY_U32 = [0, 1, 2, 3, 4, 7, 8, 20, 24, 250, 251, 255, 256, 16383, 16384, 65535, 65536, 1048576, 1048577, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const INSERTS = ['\r', '\n', '\r\n', '\0', ' ', '  ', '\n\n', '\r\r\n', 'noreply', 'get ', '\x80', '\xff'].map((s) => Buffer.from(s, 'latin1'));

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate'; from: number; span: number; to: number }
  | { op: 'insert'; at: number; bytes: number }
  | { op: 'number'; which: number; value: number }
  | { op: 'u32'; at: number; value: number }
  | { op: 'byte'; at: number; value: number };

const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: frac, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: frac }),
  fc.record({ op: fc.constant('duplicate' as const), from: frac, span: fc.integer({ min: 1, max: 64 }), to: frac }),
  fc.record({ op: fc.constant('insert' as const), at: frac, bytes: fc.integer({ min: 0, max: INSERTS.length - 1 }) }),
  fc.record({ op: fc.constant('number' as const), which: fc.nat(8), value: fc.integer({ min: 0, max: NASTY_NUMBERS.length - 1 }) }),
  fc.record({ op: fc.constant('u32' as const), at: frac, value: fc.integer({ min: 0, max: NASTY_U32.length - 1 }) }),
  fc.record({ op: fc.constant('byte' as const), at: frac, value: fc.integer({ min: 0, max: 255 }) }),
);

export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 5 });

const posOf = (at: number, length: number): number => Math.min(length, Math.floor(at * (length + 1)));

/** Replaces the `which`-th run of ASCII digits (cyclically) with a nasty number. */
function replaceNumber(input: Buffer, which: number, value: string): Buffer {
  const text = input.toString('latin1');
  const runs = [...text.matchAll(/-?[0-9]+/g)];
  if (runs.length === 0) return input;
  const m = runs[which % runs.length];
  return Buffer.concat([input.subarray(0, m.index), Buffer.from(value, 'latin1'), input.subarray(m.index! + m[0].length)]);
}

export function applyMutation(input: Buffer, m: Mutation): Buffer {
  const n = input.length;
  switch (m.op) {
    case 'flip': {
      if (n === 0) return input;
      const out = Buffer.from(input);
      out[Math.min(n - 1, Math.floor(m.at * n))] ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return input.subarray(0, posOf(m.at, n));
    case 'duplicate': {
      if (n === 0) return input;
      const from = Math.min(n - 1, Math.floor(m.from * n));
      const slice = input.subarray(from, Math.min(n, from + m.span));
      const to = posOf(m.to, n);
      return Buffer.concat([input.subarray(0, to), slice, input.subarray(to)]);
    }
    case 'insert': {
      const at = posOf(m.at, n);
      return Buffer.concat([input.subarray(0, at), INSERTS[m.bytes], input.subarray(at)]);
    }
    case 'number':
      return replaceNumber(input, m.which, NASTY_NUMBERS[m.value]);
    case 'u32': {
      // Big-endian like the binary protocol's length fields; clipped at the end of the input.
      const out = Buffer.from(input);
      const at = Math.min(n, Math.floor(m.at * n));
      const v = Buffer.alloc(4);
      v.writeUInt32BE(NASTY_U32[m.value]);
      v.copy(out, at, 0, Math.min(4, n - at));
      return out;
    }
    case 'byte': {
      if (n === 0) return input;
      const out = Buffer.from(input);
      out[Math.min(n - 1, Math.floor(m.at * n))] = m.value;
      return out;
    }
  }
}

export function applyMutations(input: Buffer, mutations: readonly Mutation[]): Buffer {
  return mutations.reduce(applyMutation, input);
}

/** Cut points as fractions; `split` turns them into chunks (empty chunks included: TCP never
 *  delivers one, but a parser must not care). */
export const cutsArb = fc.array(frac, { maxLength: 12 });

export function split(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = cuts.map((c) => Math.floor(c * (input.length + 1))).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

/** Every chunk on its own: the worst case for a streaming parser. */
export function bytewise(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

/** The same mutations drawn from a seeded Rng, for loops too long for fast-check (the soak). */
export function randomMutation(rng: Rng): Mutation {
  const at = rng.next32() / 0x1_0000_0000;
  switch (rng.int(7)) {
    case 0: return { op: 'flip', at, bit: rng.int(8) };
    case 1: return { op: 'truncate', at };
    case 2: return { op: 'duplicate', from: at, span: rng.range(1, 64), to: rng.next32() / 0x1_0000_0000 };
    case 3: return { op: 'insert', at, bytes: rng.int(INSERTS.length) };
    case 4: return { op: 'number', which: rng.int(9), value: rng.int(NASTY_NUMBERS.length) };
    case 5: return { op: 'u32', at, value: rng.int(NASTY_U32.length) };
    default: return { op: 'byte', at, value: rng.int(256) };
  }
}
