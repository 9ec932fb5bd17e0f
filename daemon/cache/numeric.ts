/**
 * Numbers stored in values, for incr/decr. memcached parses the item's bytes (followed by its
 * "\r\n") with the same safe_strtoull as command arguments, so we reuse that exact parser.
 */
import { safeStrtoull } from '../../protocol/ascii/numbers';

export const UINT64_MAX = (1n << 64n) - 1n;

/** The value's number as memcached's incr sees it; undefined = "non-numeric". */
export function storedNumber(value: Buffer): bigint | undefined {
  // C's strtoull stops at a NUL, which memcached then accepts as the end of the number.
  const nul = value.indexOf(0);
  if (nul >= 0) return nul === 0 ? undefined : safeStrtoull(value.subarray(0, nul).toString('latin1'));
  return safeStrtoull(value.toString('latin1') + '\r\n');
}

export function addDelta(value: bigint, delta: bigint, incr: boolean): bigint {
  if (incr) return (value + delta) & UINT64_MAX;
  return delta > value ? 0n : value - delta;
}
