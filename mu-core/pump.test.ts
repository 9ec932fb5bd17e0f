import {
  encodeCommitMarker, H_COMMIT_MARKER, logRegionBytes, partChunkBytes, slotOffset, SLOT_KIND_ENTRY, SLOT_KIND_NOOP, writePartSlot, writeSlot,
} from './layout';
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

/** Writes part `partNo` of the entry (`entryStart`, `entryProposal`) holding `text`, into slot `index`. */
function putPart(log: Buffer, index: number, proposal: number, commitIndex: number, entry: { start: number; proposal: number; text: string }, partNo: number) {
  const chunkBytes = partChunkBytes(B);
  const partCount = Math.ceil(entry.text.length / chunkBytes);
  const chunk = Buffer.from(entry.text.slice(partNo * chunkBytes, (partNo + 1) * chunkBytes));
  writePartSlot(log, slotOffset(index, S, B), { proposal, index, commitIndex, part: { entryStart: entry.start, entryProposal: entry.proposal, partNo, partCount }, chunk });
}

const mark = (log: Buffer, commitIndex: number, proposal: number) => encodeCommitMarker({ commitIndex, proposal }).copy(log, H_COMMIT_MARKER);

test('an entry larger than a slot is delivered whole, once, at its last index, when every part is decided', () => {
  const { log, seen, pump, put } = setup();
  const text = 'x'.repeat(partChunkBytes(B) * 2) + 'tail';
  const big = { start: 2, proposal: 257, text };
  put(1, 257, 0, 'a');
  for (let p = 0; p < 3; p++) putPart(log, 2 + p, 257, 1, big, p);
  put(5, 257, 0, 'b');
  mark(log, 3, 257); // the commit point is inside the entry
  pump.run(100);
  expect(seen).toEqual([[1, 'a']]);
  expect(pump.awaitedEntryEnd).toBe(4);
  mark(log, 5, 257);
  pump.run(100);
  pump.run(100);
  expect(seen).toEqual([[1, 'a'], [4, text], [5, 'b']]);
  expect(pump.awaitedEntryEnd).toBe(0);
});

test('parts of two entries that share a start are never spliced: the entry is abandoned, its orphans skipped', () => {
  const { log, seen, pump, put } = setup();
  const text = 'y'.repeat(partChunkBytes(B) * 2);
  // Index 1: part 0 of an entry by proposal 257; index 2: part 1 of another entry by 514 at the same
  // start (each slot decided on its own, as a new leader can leave them); index 3: a no-op filler.
  putPart(log, 1, 514, 0, { start: 1, proposal: 257, text }, 0);
  putPart(log, 2, 514, 0, { start: 1, proposal: 514, text: text.toUpperCase() }, 1);
  put(3, 514, 0, '', SLOT_KIND_NOOP);
  put(4, 514, 0, 'next');
  mark(log, 4, 514);
  pump.run(100);
  expect(seen).toEqual([[4, 'next']]);
  expect(pump.appliedIndex).toBe(4);
});

test('a decided no-op inside an entry\'s span abandons it before the rest of the span is decided', () => {
  const { log, seen, pump, put } = setup();
  const text = 'z'.repeat(partChunkBytes(B) * 3);
  putPart(log, 1, 514, 0, { start: 1, proposal: 257, text }, 0);
  put(2, 514, 0, '', SLOT_KIND_NOOP);
  mark(log, 2, 514); // index 3 (the entry's last part) is not decided, and never will be
  pump.run(100);
  expect(seen).toEqual([]);
  expect(pump.appliedIndex).toBe(2);
});

test('every step of the applied index reaches the application: entries, and the indices passed without one', () => {
  const log = Buffer.alloc(logRegionBytes(S, B));
  const told: Array<[number, string]> = [];
  const pump = new ReadingPump(log, S, B, (i) => told.push([i, 'entry']), (i) => told.push([i, 'skip']));
  const put = (index: number, payload: string, kind = SLOT_KIND_ENTRY) =>
    writeSlot(log, slotOffset(index, S, B), { proposal: 514, index, commitIndex: 0, kind, payload: Buffer.from(payload) });
  const text = 'w'.repeat(partChunkBytes(B) * 2);
  put(1, 'a');
  putPart(log, 2, 514, 0, { start: 2, proposal: 257, text }, 0); // an entry abandoned after its first part
  put(3, '', SLOT_KIND_NOOP); // the new leader's filler
  for (let p = 0; p < 2; p++) putPart(log, 4 + p, 514, 0, { start: 4, proposal: 514, text }, p);
  mark(log, 5, 514);
  pump.run(100);
  expect(told).toEqual([[1, 'entry'], [2, 'skip'], [3, 'skip'], [5, 'entry']]);
  // The last index told is always the pump's applied index: an application waiting for index 3
  // (a new leader's term start after an adopted tail like this one) is not left waiting.
  expect(pump.appliedIndex).toBe(5);
});
