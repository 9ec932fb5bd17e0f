/**
 * The two command lines a cache sees most, `set <key> <flags> <exptime> <bytes>[ noreply]` and
 * `get <key>`, recognised straight from the bytes: no line string, no token array, the key a view
 * of the input. Anything else, or anything unusual about these (several spaces, control or
 * non-ASCII bytes, long numbers, an oversized value), returns undefined and takes the general path
 * in line.ts, so this file never has to reproduce memcached's corner cases: for every line it
 * accepts, the outcome equals what parseLine returns (tests/ascii/fast-line.test.ts checks that).
 */
import type { LineLimits, LineOutcome } from './line';

const SPACE = 0x20;
/** Numbers of at most 9 digits fit every field (flags u32, exptime i32, bytes) without wrapping. */
const MAX_PLAIN_DIGITS = 9;
const NOREPLY = [0x6e, 0x6f, 0x72, 0x65, 0x70, 0x6c, 0x79];

/** Index just past a key of printable, non-space ASCII starting at `from` (memcached splits on ' ' only). */
function keyEnd(data: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const c = data[i];
    if (c <= SPACE || c >= 0x7f) break;
    i++;
  }
  return i;
}

/** Where the last plainNumber() stopped: the space after its digits, or the line end. */
let numberEnd = 0;

/** A plain run of 1-9 digits from `from` up to the next space or `end`: its value (numberEnd set), or -1. */
function plainNumber(data: Buffer, from: number, end: number): number {
  let value = 0;
  let i = from;
  while (i < end && data[i] !== SPACE) {
    const d = data[i] - 0x30;
    if (d < 0 || d > 9 || i - from >= MAX_PLAIN_DIGITS) return -1;
    value = value * 10 + d;
    i++;
  }
  numberEnd = i;
  return i === from ? -1 : value;
}

/** `data[start, end)` is one complete line without its line ending. */
export function parseFastLine(data: Buffer, start: number, end: number, limits: LineLimits): LineOutcome | undefined {
  if (end - start < 5 || data[start + 3] !== SPACE) return undefined;
  const c0 = data[start];
  if (data[start + 2] !== 0x74 || data[start + 1] !== 0x65) return undefined; // "?et "
  const keyStart = start + 4;
  const keyStop = keyEnd(data, keyStart, end);
  const keyBytes = keyStop - keyStart;
  if (keyBytes === 0 || keyBytes > limits.maxKeyBytes) return undefined;
  if (c0 === 0x67) {
    // get <key>: exactly one key, nothing after it.
    if (keyStop !== end) return undefined;
    return { next: 'command', command: { kind: 'get', variant: 'get', exptime: 0, keys: [data.subarray(keyStart, keyStop)], keyTooLong: false } };
  }
  if (c0 !== 0x73 || keyStop === end || data[keyStop] !== SPACE) return undefined;
  const flags = plainNumber(data, keyStop + 1, end);
  if (flags < 0 || numberEnd === end) return undefined;
  const exptime = plainNumber(data, numberEnd + 1, end);
  if (exptime < 0 || numberEnd === end) return undefined;
  const valueBytes = plainNumber(data, numberEnd + 1, end);
  if (valueBytes < 0) return undefined;
  const pos = numberEnd;
  let noreply = false;
  if (pos !== end) {
    if (end - pos !== NOREPLY.length + 1) return undefined;
    for (let i = 0; i < NOREPLY.length; i++) if (data[pos + 1 + i] !== NOREPLY[i]) return undefined;
    noreply = true;
  }
  if (valueBytes > limits.maxValueBytes(keyBytes, flags)) return undefined;
  const key = data.subarray(keyStart, keyStop);
  return { next: 'value', pending: { valueBytes, text: { mode: 'set', key, flags, exptime, cas: 0n, noreply } } };
}
