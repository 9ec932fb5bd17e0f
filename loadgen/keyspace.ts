/**
 * The keys and the value a run uses. Keys are exactly `keySizeBytes` long, printable (valid for
 * the text protocol: no spaces or control bytes) and distinct: the tail of each key is its index
 * in base 36, zero-padded to one width for the whole keyspace; the head is seeded random filler.
 */
import type { Rng } from './rng';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const MAX_KEY_BYTES = 250;

/** How many distinct keys of this size exist under our scheme (index digits fill the key). */
export function keyCapacity(keySizeBytes: number): number {
  return Math.pow(36, Math.min(keySizeBytes, 10));
}

export function buildKeys(keyCount: number, keySizeBytes: number, rng: Rng): Buffer[] {
  if (!Number.isInteger(keySizeBytes) || keySizeBytes < 1 || keySizeBytes > MAX_KEY_BYTES) {
    throw new RangeError(`key size must be 1..${MAX_KEY_BYTES} bytes, got ${keySizeBytes}`);
  }
  if (!Number.isInteger(keyCount) || keyCount < 1) throw new RangeError(`key count must be >= 1, got ${keyCount}`);
  if (keyCount > keyCapacity(keySizeBytes)) {
    throw new RangeError(`${keyCount} distinct keys do not fit in ${keySizeBytes} bytes`);
  }
  const keys: Buffer[] = new Array(keyCount);
  const indexWidth = (keyCount - 1).toString(36).length;
  for (let i = 0; i < keyCount; i++) {
    const index = i.toString(36).padStart(indexWidth, '0');
    const fillerBytes = keySizeBytes - indexWidth;
    let key = '';
    for (let j = 0; j < fillerBytes; j++) key += ALPHABET[rng.below(ALPHABET.length)];
    // keyCount <= 36^keySizeBytes, so indexWidth <= keySizeBytes; a fixed width keeps keys distinct.
    keys[i] = Buffer.from(key + index, 'latin1');
  }
  return keys;
}

export function buildValue(valueSizeBytes: number, rng: Rng): Buffer {
  if (!Number.isInteger(valueSizeBytes) || valueSizeBytes < 0) {
    throw new RangeError(`value size must be >= 0 bytes, got ${valueSizeBytes}`);
  }
  const value = Buffer.allocUnsafe(valueSizeBytes);
  for (let i = 0; i < valueSizeBytes; i++) value[i] = ALPHABET.charCodeAt(rng.below(ALPHABET.length));
  return value;
}
