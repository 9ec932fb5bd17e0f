/**
 * slotChecksum: what a torn or corrupted slot must never get past (seeded randomness; the seed is
 * in every failure).
 */
import { slotChecksum } from './checksum';
import { Rng } from './sim/rng';

const SEED = 9137;

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

test('the same bytes give the same checksum wherever they sit (the leader\'s log vs a follower\'s private copy)', () => {
  const rng = new Rng(SEED);
  for (const n of [0, 1, 3, 4, 15, 16, 17, 100, 4056]) {
    const bytes = randomBytes(rng, n);
    const sums = new Set<number>();
    for (let at = 0; at < 8; at++) {
      const host = randomBytes(rng, n + 16);
      bytes.copy(host, at);
      sums.add(slotChecksum(viewOf(host), at, at + n));
    }
    expect({ seed: SEED, n, distinct: sums.size }).toEqual({ seed: SEED, n, distinct: 1 });
  }
});

test('every single-bit flip of a 1 KiB slot is caught', () => {
  const rng = new Rng(SEED);
  const n = 1024 - 4;
  const b = randomBytes(rng, n);
  const view = viewOf(b);
  const good = slotChecksum(view, 0, n);
  let missed = 0;
  for (let byte = 0; byte < n; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      b[byte] ^= 1 << bit;
      if (slotChecksum(view, 0, n) === good) missed++;
      b[byte] ^= 1 << bit;
    }
  }
  expect({ seed: SEED, missed }).toEqual({ seed: SEED, missed: 0 });
});

test('any change within one word is caught, and so are the top-bit pairs a word-wise FNV would cancel', () => {
  const rng = new Rng(SEED);
  for (let round = 0; round < 2000; round++) {
    const n = rng.int(4, 600);
    const b = randomBytes(rng, n);
    const view = viewOf(b);
    const good = slotChecksum(view, 0, n);
    const word = rng.int(0, Math.floor(n / 4) - 1) * 4;
    const old = view.getInt32(word, true);
    let replacement = rng.int(0, 0xffffffff) | 0;
    if (replacement === old) replacement ^= 1;
    view.setInt32(word, replacement, true);
    expect({ seed: SEED, round, word, caught: slotChecksum(view, 0, n) !== good }).toEqual({ seed: SEED, round, word, caught: true });
    view.setInt32(word, old, true);
  }
  // Bit 31 flipped in two words of the same lane: (h ^ 2^31) * odd = h * odd ^ 2^31, so xor-multiply
  // chains would carry the flip unchanged to the second word and cancel it there.
  const b = randomBytes(rng, 256);
  const view = viewOf(b);
  const good = slotChecksum(view, 0, 256);
  b[3] ^= 0x80;
  b[19] ^= 0x80;
  expect(slotChecksum(view, 0, 256)).not.toBe(good);
});

test('trailing bytes and length count: a slot and its zero-extended twin differ', () => {
  const rng = new Rng(SEED);
  const b = Buffer.concat([randomBytes(rng, 21), Buffer.alloc(11)]);
  const view = viewOf(b);
  const sums = new Set<number>();
  for (let n = 21; n <= 32; n++) sums.add(slotChecksum(view, 0, n));
  expect(sums.size).toBe(12);
  expect(slotChecksum(viewOf(Buffer.alloc(0)), 0, 0)).not.toBe(0);
});
