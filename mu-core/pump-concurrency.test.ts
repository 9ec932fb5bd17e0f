/**
 * A follower's log and mailboxes are written one-sided by peers while this node reads them (on shm
 * from another process, truly at the same time). These tests land a peer's write at the worst
 * moment for a reader, deterministically: right after the reader computed a checksum (the checksum
 * function is wrapped to run the landing once), or while the entry handler runs. Whatever lands, a
 * reader must interpret only bytes its checksum covered.
 *
 * The first test is the storm failure "corrupt effect entry: N trailing bytes": a follower waiting
 * on its own leftover of an older term validated it, the new leader's sync write of the same index
 * landed, and the pump paired the leftover's length with the new slot's proposal and index.
 */
import {
  encodeCommitMarker, encodeMailbox, H_COMMIT_MARKER, logRegionBytes, readCommitMarker, readMailbox, slotOffset,
  SLOT_HEADER_BYTES, SLOT_KIND_ENTRY, writeSlot, COMMIT_MARKER_BYTES, MBOX_BYTES,
} from './layout';
import { ReadingPump } from './pump';

/** Runs once, right after the next checksum over a range of `mockLandAfter.rangeBytes` bytes. */
const mockLandAfter: { rangeBytes: number; land: (() => void) | null } = { rangeBytes: -1, land: null };

jest.mock('./checksum', () => {
  const real = jest.requireActual('./checksum');
  return {
    fnv1a32: (buf: Buffer, start: number, end: number): number => landAfter(real.fnv1a32(buf, start, end), end - start),
    slotChecksum: (view: DataView, start: number, end: number): number => landAfter(real.slotChecksum(view, start, end), end - start),
  };
});

function landAfter(checksum: number, rangeBytes: number): number {
  if (mockLandAfter.land !== null && rangeBytes === mockLandAfter.rangeBytes) {
    const land = mockLandAfter.land;
    mockLandAfter.land = null;
    land();
  }
  return checksum;
}

afterEach(() => {
  mockLandAfter.land = null;
});

const S = 8;
const B = 256;

function slotBytesOf(index: number, proposal: number, commitIndex: number, payload: string): Buffer {
  const b = Buffer.alloc(B);
  const n = writeSlot(b, 0, { proposal, index, commitIndex, kind: SLOT_KIND_ENTRY, payload: Buffer.from(payload) });
  return b.subarray(0, n);
}

function follower() {
  const log = Buffer.alloc(logRegionBytes(S, B));
  const seen: Array<[number, string]> = [];
  const pump = new ReadingPump(log, S, B, (i, p) => seen.push([i, p.toString('latin1')]));
  return { log, seen, pump };
}

test('a new leader\'s write landing right after the pump checked the old slot: the new entry, whole', () => {
  const { log, seen, pump } = follower();
  pump.skipTo(2);
  // Our own leftover at index 3 from our term as leader (proposal 257): long, never decided.
  const leftover = 'L'.repeat(150);
  slotBytesOf(3, 257, 2, leftover).copy(log, slotOffset(3, S, B));
  encodeCommitMarker({ commitIndex: 2, proposal: 257 }).copy(log, H_COMMIT_MARKER);
  // The new leader (proposal 514) syncs us from index 3, restamping the decided entry; its slot
  // carries its commit point (5), which the pump learns by peeking.
  const decided = 'put k=v';
  mockLandAfter.rangeBytes = SLOT_HEADER_BYTES - 4 + leftover.length;
  mockLandAfter.land = () => slotBytesOf(3, 514, 5, decided).copy(log, slotOffset(3, S, B));
  for (let run = 0; run < 3; run++) pump.run(100);
  expect(mockLandAfter.land).toBeNull(); // the write did land mid-read
  expect(seen).toEqual([[3, decided]]);
  expect(pump.appliedIndex).toBe(3);
});

test('a write landing in the slot while the handler runs does not change the entry handed over', () => {
  const log = Buffer.alloc(logRegionBytes(S, B));
  const seen: string[] = [];
  const pump = new ReadingPump(log, S, B, (i, p) => {
    // A leader that (wrongly or not) rewrites the slot now must not alter what we are applying.
    slotBytesOf(i + S, 514, i + S, 'X'.repeat(10)).copy(log, slotOffset(i, S, B));
    seen.push(p.toString('latin1'));
  });
  slotBytesOf(1, 514, 0, 'first-entry').copy(log, slotOffset(1, S, B));
  encodeCommitMarker({ commitIndex: 1, proposal: 514 }).copy(log, H_COMMIT_MARKER);
  pump.run(100);
  expect(seen).toEqual(['first-entry']);
});

test('a commit marker half rewritten right after its check is not read as a mix', () => {
  const log = Buffer.alloc(logRegionBytes(S, B));
  encodeCommitMarker({ commitIndex: 5, proposal: 257 }).copy(log, H_COMMIT_MARKER);
  // The leader's next marker lands in two pieces: the commit index first.
  const next = encodeCommitMarker({ commitIndex: 9, proposal: 514 });
  mockLandAfter.rangeBytes = 16;
  mockLandAfter.land = () => next.copy(log, H_COMMIT_MARKER, 0, 8);
  const m = readCommitMarker(log);
  expect(mockLandAfter.land).toBeNull();
  // Either marker whole, never "257 committed 9".
  expect(m).toEqual({ commitIndex: 5, proposal: 257 });
  expect(COMMIT_MARKER_BYTES).toBe(20);
});

test('a mailbox rewritten right after its check is read as the checked words', () => {
  const box = Buffer.alloc(MBOX_BYTES);
  encodeMailbox({ requestSeq: 3, grantSeq: 2 }).copy(box);
  const next = encodeMailbox({ requestSeq: 4, grantSeq: 7 });
  mockLandAfter.rangeBytes = MBOX_BYTES - 4;
  mockLandAfter.land = () => next.copy(box, 0, 0, 16); // torn: requestSeq of the new box only
  expect(readMailbox(box)).toEqual({ requestSeq: 3, grantSeq: 2 });
  expect(mockLandAfter.land).toBeNull();
});
