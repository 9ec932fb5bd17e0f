import {
  encodeCommitMarker, encodeMailbox, H_COMMIT_MARKER, initLogHeader, logRegionBytes, readCommitMarker, readControl,
  readMailbox, readSlot, slotOffset, SLOT_HEADER_BYTES, SLOT_KIND_ENTRY, writeControl, writeSlot, CTL_BYTES, LOG_HEADER_BYTES,
} from './layout';
import { Rng } from './sim/rng';

const slotCount = 8;
const slotBytes = 96;

describe('log slots', () => {
  test('a written slot reads back whole', () => {
    const log = Buffer.alloc(logRegionBytes(slotCount, slotBytes));
    initLogHeader(log, slotCount, slotBytes);
    const off = slotOffset(11, slotCount, slotBytes);
    expect(off).toBe(LOG_HEADER_BYTES + 2 * slotBytes);
    const n = writeSlot(log, off, { proposal: 513, index: 11, commitIndex: 9, kind: SLOT_KIND_ENTRY, payload: Buffer.from('hello') });
    expect(n).toBe(SLOT_HEADER_BYTES + 5);
    const s = readSlot(log, off, slotBytes)!;
    expect(s).toMatchObject({ proposal: 513, index: 11, commitIndex: 9, kind: SLOT_KIND_ENTRY, length: 5 });
    expect(log.subarray(s.payloadOffset, s.payloadOffset + s.length).toString()).toBe('hello');
  });

  test('a never-written slot does not validate', () => {
    const log = Buffer.alloc(logRegionBytes(slotCount, slotBytes));
    for (let i = 1; i <= slotCount; i++) expect(readSlot(log, slotOffset(i, slotCount, slotBytes), slotBytes)).toBeNull();
  });

  test('any torn prefix or flipped byte of a slot is rejected (seeded)', () => {
    const seed = 4242;
    const rng = new Rng(seed);
    for (let round = 0; round < 300; round++) {
      const payload = Buffer.alloc(rng.int(0, slotBytes - SLOT_HEADER_BYTES));
      for (let i = 0; i < payload.length; i++) payload[i] = rng.int(0, 255);
      const full = Buffer.alloc(slotBytes);
      const len = writeSlot(full, 0, { proposal: rng.int(1, 1e6), index: rng.int(1, 1e9), commitIndex: rng.int(0, 1e9), kind: SLOT_KIND_ENTRY, payload });
      // Torn: the old slot content (another entry) with only a prefix of the new bytes landed.
      const old = Buffer.alloc(slotBytes);
      writeSlot(old, 0, { proposal: 1, index: 1, commitIndex: 0, kind: SLOT_KIND_ENTRY, payload: Buffer.alloc(payload.length, 7) });
      const cut = rng.int(1, len - 1);
      const torn = Buffer.from(old);
      full.copy(torn, 0, 0, cut);
      const t = readSlot(torn, 0, slotBytes);
      if (t !== null) {
        // Only acceptable if the visible bytes equal a complete slot (the cut fell where both agree).
        expect(torn.subarray(0, len).equals(full.subarray(0, len)) || torn.subarray(0, len).equals(old.subarray(0, len))).toBe(true);
      }
      const flipped = Buffer.from(full);
      const at = rng.int(0, len - 1);
      flipped[at] ^= 1 << rng.int(0, 7);
      expect({ seed, round, at, valid: readSlot(flipped, 0, slotBytes) !== null }).toEqual({ seed, round, at, valid: false });
    }
  });
});

test('commit marker, control words and mailboxes round-trip and reject corruption', () => {
  const log = Buffer.alloc(logRegionBytes(slotCount, slotBytes));
  expect(readCommitMarker(log)).toBeNull();
  encodeCommitMarker({ commitIndex: 77, proposal: 1283 }).copy(log, H_COMMIT_MARKER);
  expect(readCommitMarker(log)).toEqual({ commitIndex: 77, proposal: 1283 });
  log[H_COMMIT_MARKER + 3] ^= 0x10;
  expect(readCommitMarker(log)).toBeNull();

  const ctl = Buffer.alloc(CTL_BYTES);
  expect(readControl(ctl)).toBeNull();
  const words = { incarnation: 0xdeadbeef, heartbeat: 12345, appliedIndex: 99, firstUndecided: 101, permissionHolder: 2, amnesic: true, leaving: false };
  writeControl(ctl, words);
  expect(readControl(ctl)).toEqual(words);
  // The status word: leaving round-trips; amnesic wins over leaving (an unsynced log never votes).
  writeControl(ctl, { ...words, amnesic: false, leaving: true });
  expect(readControl(ctl)).toMatchObject({ amnesic: false, leaving: true });
  writeControl(ctl, { ...words, amnesic: true, leaving: true });
  expect(readControl(ctl)).toMatchObject({ amnesic: true, leaving: false });
  writeControl(ctl, words);
  ctl[20] ^= 1;
  expect(readControl(ctl)).toBeNull();

  const box = encodeMailbox({ requestSeq: 5e9 + 3, grantSeq: 17 });
  expect(readMailbox(box)).toEqual({ requestSeq: 5e9 + 3, grantSeq: 17 });
  box[9] ^= 4;
  expect(readMailbox(box)).toBeNull();
});
