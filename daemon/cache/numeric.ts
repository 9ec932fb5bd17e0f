/**
 * Numbers in values and arguments, parsed exactly as memcached's safe_strtoull does (C strtoull in
 * base 10, then memcached's checks), because incr/decr replies must match memcached byte for byte.
 */

const UINT64_MAX = (1n << 64n) - 1n;

function isCSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * Parse `bytes` (the value; memcached sees it followed by "\r\n", or a NUL-terminated token) like
 * safe_strtoull. Returns undefined where memcached says "non-numeric".
 */
export function safeStrtoull(bytes: Buffer, terminatedByCrlf: boolean): bigint | undefined {
  let i = 0;
  const n = bytes.length;
  while (i < n && isCSpace(bytes[i])) i++;
  let negative = false;
  if (i < n && (bytes[i] === 0x2b || bytes[i] === 0x2d)) {
    negative = bytes[i] === 0x2d;
    i++;
  }
  const digitsStart = i;
  let value = 0n;
  let overflow = false;
  while (i < n && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
    value = value * 10n + BigInt(bytes[i] - 0x30);
    if (value > UINT64_MAX) overflow = true;
    i++;
  }
  if (overflow) return undefined; // strtoull sets ERANGE
  // With no digits strtoull leaves endptr at the start of the string.
  const endIndex = i === digitsStart ? 0 : i;
  const endsHere = endIndex >= n;
  const endByte = endsHere ? (terminatedByCrlf ? 0x0d : 0) : bytes[endIndex];
  if (negative) value = (UINT64_MAX + 1n - value) & UINT64_MAX;
  if (isCSpace(endByte) || (endByte === 0 && endIndex !== 0)) {
    // A result that is negative as a signed 64-bit number is refused if a '-' was seen.
    if (value >= 1n << 63n && bytes.subarray(0, endIndex).includes(0x2d)) return undefined;
    return value;
  }
  return undefined;
}

export function addDelta(value: bigint, delta: bigint, incr: boolean): bigint {
  if (incr) return (value + delta) & UINT64_MAX;
  return delta > value ? 0n : value - delta;
}
