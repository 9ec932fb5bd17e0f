/**
 * FNV-1a (32-bit) over a byte range. Slots, control words and mailboxes carry it so that a reader
 * never trusts bytes that a concurrent one-sided write has only partly delivered.
 */
export function fnv1a32(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= buf[i];
    h = Math.imul(h, 0x01000193);
  }
  // Never 0: an all-zero (never written) record must not validate by accident.
  return (h >>> 0) || 1;
}
