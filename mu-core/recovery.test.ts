import { logRegionBytes, slotOffset, SLOT_KIND_ENTRY, SLOT_KIND_NOOP, writeSlot, H_MIN_PROPOSAL } from './layout';
import { LogImage, recover } from './recovery';

const S = 8;
const B = 80;

function image(peerId: number, appliedIndex: number, slots: Array<[index: number, proposal: number, payload: string]>, minProposal = 0): LogImage {
  const log = Buffer.alloc(logRegionBytes(S, B));
  log.writeDoubleLE(minProposal, H_MIN_PROPOSAL);
  for (const [index, proposal, payload] of slots) {
    writeSlot(log, slotOffset(index, S, B), { proposal, index, commitIndex: 0, kind: SLOT_KIND_ENTRY, payload: Buffer.from(payload) });
  }
  return { peerId, log, appliedIndex };
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

test('an index nobody holds becomes a no-op; indices at or below base are not touched', () => {
  const r = recover(1, [image(1, 1, [[1, 257, 'a'], [3, 257, 'c']]), image(2, 0, [])], S, B);
  expect(r.kind).toBe('adopt');
  if (r.kind !== 'adopt') return;
  expect(r.entries.map((e) => [e.index, e.kind])).toEqual([[2, SLOT_KIND_NOOP], [3, SLOT_KIND_ENTRY]]);
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
  torn.log[slotOffset(4, S, B) + 40] ^= 0xff;
  const r = recover(2, [image(1, 2, [[1, 257, 'a'], [2, 257, 'b']]), torn], S, B);
  expect(r.kind).toBe('adopt');
  if (r.kind !== 'adopt') return;
  expect(r.entries.map((e) => [e.index, e.payload.toString()])).toEqual([[3, 'c']]);
  expect(r.highestProposalSeen).toBe(514);
});
