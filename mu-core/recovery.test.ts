import { logRegionBytes, slotOffset, SLOT_KIND_ENTRY, SLOT_KIND_NOOP, writeSlot, H_MIN_PROPOSAL } from './layout';
import { LogImage, recover, ringImage, scanRun, windowImage } from './recovery';

const S = 8;
const B = 80;

function image(peerId: number, appliedIndex: number, slots: Array<[index: number, proposal: number, payload: string]>, minProposal = 0): LogImage {
  const log = Buffer.alloc(logRegionBytes(S, B));
  log.writeDoubleLE(minProposal, H_MIN_PROPOSAL);
  for (const [index, proposal, payload] of slots) {
    writeSlot(log, slotOffset(index, S, B), { proposal, index, commitIndex: 0, kind: SLOT_KIND_ENTRY, payload: Buffer.from(payload) });
  }
  return ringImage(peerId, log, appliedIndex, S, B);
}

test('adopts the highest-numbered value at each undecided index', () => {
  const r = recover(2, [
    image(1, 2, [[1, 257, 'a'], [2, 257, 'b'], [3, 257, 'old-c'], [4, 257, 'old-d']]),
    image(2, 2, [[1, 257, 'a'], [2, 257, 'b'], [3, 514, 'c']]),
    image(3, 1, [[1, 257, 'a'], [2, 257, 'b']], 771),
  ], S, B);
  expect(r.kind).toBe('adopt');
  if (r.kind !== 'adopt') return;
  expect(r.entries.map((e) => [e.index, e.payload.toString(), e.foundProposal])).toEqual([[3, 'c', 514], [4, 'old-d', 257]]);
  expect(r.highestProposalSeen).toBe(771);
});

test('entries past a gap above the applied index are not adopted; indices at or below base are not touched', () => {
  // Peer 1 holds 3 but not 2: a write of 2 never completed there, so no leader counted 3 on it.
  const r = recover(1, [image(1, 1, [[1, 257, 'a'], [3, 257, 'c']]), image(2, 1, [[1, 257, 'a'], [2, 257, 'b']])], S, B);
  expect(r.kind).toBe('adopt');
  if (r.kind !== 'adopt') return;
  expect(r.entries.map((e) => [e.index, e.payload.toString()])).toEqual([[2, 'b']]);
});

test('below its applied index an image may lack slots (a snapshot) without ending its run', () => {
  // Peer 2 installed a snapshot up to 4 (its slots 2..4 are empty), then received 5 and 6.
  const r = recover(1, [image(1, 1, [[1, 257, 'a']]), image(2, 4, [[5, 514, 'e'], [6, 514, 'f']])], S, B);
  // 2..4 are decided and nobody holds them: only a snapshot brings them.
  expect(r).toMatchObject({ kind: 'needs-snapshot', fromPeer: 2 });
  const r2 = recover(4, [image(1, 4, []), image(2, 4, [[5, 514, 'e'], [6, 514, 'f']])], S, B);
  expect(r2.kind === 'adopt' && r2.entries.map((e) => e.payload.toString())).toEqual(['e', 'f']);
});

test('a torn slot at or below an image\'s applied index is not adopted, though the run goes on past it', () => {
  // Peer 2 applied 3; a later leader's rewrite of its slot 2 was torn (writer died). Its header
  // still says index 2 under a high proposal; only its checksum tells.
  const torn = image(2, 3, [[1, 257, 'a'], [2, 9999, 'torn'], [3, 257, 'c']]);
  torn.buf[slotOffset(2, S, B) + 40] ^= 0xff;
  const r = recover(1, [image(1, 1, [[1, 257, 'a'], [2, 257, 'b']]), torn], S, B);
  expect(r.kind === 'adopt' && r.entries.map((e) => [e.index, e.payload.toString(), e.foundProposal])).toEqual([[2, 'b', 257], [3, 'c', 257]]);
});

test('a run ends where the read ends, at a gap, or at a later lap', () => {
  const full = image(2, 3, [[1, 257, 'a'], [2, 257, 'b'], [3, 257, 'c'], [4, 514, 'd'], [5, 514, 'e']]);
  // Only indices 2..4 read: the run may go on past them.
  const part = windowImage(2, 3, 0, 2, Buffer.concat([2, 3, 4].map((i) => full.buf.subarray(full.offsetOf(i), full.offsetOf(i) + B))), B);
  const partRun = scanRun(part, 1, S, B);
  expect(partRun).toEqual({ stop: 'unread', end: 4, highestProposal: 514, next: 5, firstUnheld: Infinity });
  expect(scanRun(full, 1, S, B)).toEqual({ stop: 'gap', end: 5, highestProposal: 514, next: 6, firstUnheld: Infinity });
  // Resumed on a longer read, the scan goes on where it stopped and ends as a whole scan would.
  expect(scanRun(full, 1, S, B, partRun)).toEqual(scanRun(full, 1, S, B));
  expect(scanRun(image(3, 9, [[10, 514, 'x']]), 1, S, B).stop).toBe('later-lap');
  const ring: Array<[number, number, string]> = [];
  for (let i = 1; i <= S; i++) ring.push([i, 257, `e${i}`]);
  expect(scanRun(image(1, 0, ring), 0, S, B)).toEqual({ stop: 'ring', end: S, highestProposal: 257, next: S + 1, firstUnheld: Infinity });
});

test('a slot of an older lap of the ring does not count as the entry', () => {
  // Index 10 lives where index 2 lived (S = 8). Peer 2 still holds index 2 there: not index 10.
  const r = recover(9, [image(1, 9, [[10, 257, 'x']]), image(2, 2, [[2, 257, 'two']])], S, B);
  expect(r.kind === 'adopt' && r.entries.map((e) => e.payload.toString())).toEqual(['x']);
});

test('a candidate missing decided entries that every log overwrote needs a snapshot', () => {
  // Candidate applied up to 1; peer 2 applied 12 and its ring now holds 5..12: index 2..4 are gone.
  const slots: Array<[number, number, string]> = [];
  for (let i = 5; i <= 12; i++) slots.push([i, 514, `e${i}`]);
  const r = recover(1, [image(1, 1, [[1, 257, 'a']]), image(2, 12, slots)], S, B);
  expect(r).toMatchObject({ kind: 'needs-snapshot', fromPeer: 2 });
});

test('a log end more than a ring ahead of the candidate needs a snapshot', () => {
  const r = recover(0, [image(1, 0, []), image(3, 9, [[10, 514, 'far']])], S, B);
  expect(r).toMatchObject({ kind: 'needs-snapshot', fromPeer: 3 });
});

test('a torn slot holding the highest index or proposal number is ignored (its checksum fails)', () => {
  // Peer 2's slot for index 4 was torn mid-write under a high proposal: its payload no longer
  // matches the checksum, so neither its index nor its proposal number may count.
  const torn = image(2, 2, [[1, 257, 'a'], [2, 257, 'b'], [3, 514, 'c'], [4, 9999, 'torn']]);
  torn.buf[slotOffset(4, S, B) + 40] ^= 0xff;
  const r = recover(2, [image(1, 2, [[1, 257, 'a'], [2, 257, 'b']]), torn], S, B);
  expect(r.kind).toBe('adopt');
  if (r.kind !== 'adopt') return;
  expect(r.entries.map((e) => [e.index, e.payload.toString()])).toEqual([[3, 'c']]);
  expect(r.highestProposalSeen).toBe(514);
});
