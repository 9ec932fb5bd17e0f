/**
 * Math.imul, looked up once: inside a vm context (jest runs every test file in one) each read of a
 * global such as `Math` calls into the context's interceptor, ~150 ns, which made these loops 100
 * times slower under test than in the daemon and most of the simulation's time.
 */
const imul = Math.imul;

/**
 * FNV-1a (32-bit) over a byte range. Slots, control words and mailboxes carry it so that a reader
 * never trusts bytes that a concurrent one-sided write has only partly delivered.
 */
export function fnv1a32(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= buf[i];
    h = imul(h, 0x01000193);
  }
  // Never 0: an all-zero (never written) record must not validate by accident.
  return (h >>> 0) || 1;
}

const MIX_C1 = 0xcc9e2d51 | 0;
const MIX_C2 = 0x1b873593 | 0;
const MIX_ADD = 0xe6546b64 | 0;

/** One MurmurHash3 (x86, 32-bit) body step: `h` absorbs word `w`. A bijection of h for each w, and of w for each h. */
function absorb(h: number, w: number): number {
  w = imul(w, MIX_C1);
  w = (w << 15) | (w >>> 17);
  w = imul(w, MIX_C2);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (imul(h, 5) + MIX_ADD) | 0;
}

/**
 * The checksum of a log slot, over bytes [start, end) of `view`. Slots are up to a few KiB and every
 * one is checked on each follower (and written on the leader), so this reads 32-bit words, in four
 * independent lanes of MurmurHash3 steps (a lane's chain of multiplies does not wait for the others'),
 * where FNV-1a's byte-serial chain cost about 1 ns per byte: 100 KiB values spent most of the
 * leader's time here. Every step is a bijection, so a change confined to one word (and so any torn
 * write that differs from the old bytes in one word) always changes the result; other changes go
 * unnoticed with probability about 2^-32. Never 0, like fnv1a32.
 */
export function slotChecksum(view: DataView, start: number, end: number): number {
  let a = 0x9747b28c | 0;
  let b = 0x2f1a0f5b | 0;
  let c = 0x5bd1e995 | 0;
  let d = 0x68e31da4 | 0;
  let i = start;
  for (; i + 16 <= end; i += 16) {
    a = absorb(a, view.getInt32(i, true));
    b = absorb(b, view.getInt32(i + 4, true));
    c = absorb(c, view.getInt32(i + 8, true));
    d = absorb(d, view.getInt32(i + 12, true));
  }
  let h = absorb(absorb(absorb(a, b), c), d);
  for (; i + 4 <= end; i += 4) h = absorb(h, view.getInt32(i, true));
  let tail = 0;
  for (let shift = 0; i < end; i++, shift += 8) tail |= view.getUint8(i) << shift;
  h = absorb(h, tail) ^ (end - start);
  // MurmurHash3's finalizer: every input bit reaches every output bit.
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b | 0);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35 | 0);
  h ^= h >>> 16;
  return (h >>> 0) || 1;
}
