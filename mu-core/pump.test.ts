import { encodeCommitMarker, H_COMMIT_MARKER, logRegionBytes, slotOffset, SLOT_KIND_ENTRY, SLOT_KIND_NOOP, writeSlot } from './layout';
import { ReadingPump } from './pump';

const S = 8;
const B = 80;

function setup() {
  const log = Buffer.alloc(logRegionBytes(S, B));
  const seen: Array<[number, string]> = [];
  const pump = new ReadingPump(log, S, B, (i, p) => seen.push([i, p.toString()]));
  const put = (index: number, proposal: number, commitIndex: number, payload: string, kind = SLOT_KIND_ENTRY) =>
    writeSlot(log, slotOffset(index, S, B), { proposal, index, commitIndex, kind, payload: Buffer.from(payload) });
  return { log, seen, pump, put };
}

test('delivers decided entries once each, in order, learning the commit point from later slots', () => {
  const { seen, pump, put } = setup();
  put(1, 257, 0, 'a');
  put(2, 257, 1, 'b');
  expect(pump.run(100)).toBe(1); // slot 2 says 1 is decided; 2 is not yet
  put(3, 257, 2, 'c');
  pump.run(100);
  pump.run(100);
  expect(seen).toEqual([[1, 'a'], [2, 'b']]);
});

test('the header marker makes the last entry visible; no-ops advance silently', () => {
  const { log, seen, pump, put } = setup();
  put(1, 257, 0, 'a');
  put(2, 257, 0, '', SLOT_KIND_NOOP);
  put(3, 257, 0, 'c');
  pump.run(100);
  expect(seen).toEqual([]);
  encodeCommitMarker({ commitIndex: 3, proposal: 257 }).copy(log, H_COMMIT_MARKER);
  pump.run(100);
  expect(seen).toEqual([[1, 'a'], [3, 'c']]);
  expect(pump.appliedIndex).toBe(3);
});

test('a leftover of an older proposal is not applied under a newer commit marker', () => {
  const { log, seen, pump, put } = setup();
  put(1, 257, 0, 'leftover'); // written by a deposed leader, never decided
  encodeCommitMarker({ commitIndex: 1, proposal: 514 }).copy(log, H_COMMIT_MARKER);
  pump.run(100);
  expect(seen).toEqual([]);
  put(1, 514, 0, 'decided'); // the new leader rewrites index 1
  pump.run(100);
  expect(seen).toEqual([[1, 'decided']]);
});

test('a torn slot is never applied; the complete one is', () => {
  const { log, seen, pump, put } = setup();
  encodeCommitMarker({ commitIndex: 1, proposal: 257 }).copy(log, H_COMMIT_MARKER);
  const full = Buffer.alloc(B);
  writeSlot(full, 0, { proposal: 257, index: 1, commitIndex: 0, kind: SLOT_KIND_ENTRY, payload: Buffer.from('whole-entry') });
  full.copy(log, slotOffset(1, S, B), 0, 30); // half landed
  pump.run(100);
  expect(seen).toEqual([]);
  put(1, 257, 0, 'whole-entry');
  pump.run(100);
  expect(seen).toEqual([[1, 'whole-entry']]);
});

test('after a snapshot the pump resumes after it', () => {
  const { log, seen, pump, put } = setup();
  pump.skipTo(10);
  put(11, 514, 10, 'k');
  encodeCommitMarker({ commitIndex: 11, proposal: 514 }).copy(log, H_COMMIT_MARKER);
  pump.run(100);
  expect(seen).toEqual([[11, 'k']]);
  expect(pump.snapshotIndex).toBe(10);
});
