import type { Completion } from '../binding/fabric';
import {
  CTL_BYTES, CTL_REGION, H_MIN_PROPOSAL, initLogHeader, LOG_REGION, logRegionBytes, slotOffset, SLOT_KIND_ENTRY, writeControl, writeSlot,
} from './layout';
import { PeerLogOutcome, readPeerLog } from './log-reader';
import type { OpTable } from './ops';
import { LogImage, recover, ringImage } from './recovery';

const S = 128;
const B = 8192; // 128 slots of 8 KiB: the first window (256 KiB) is 32 slots

/** A peer's regions in this process; reads complete at once (a fake for this unit test only). */
function fakePeer(slots: Array<[index: number, proposal: number]>, appliedIndex: number, status: 'member' | 'amnesic' = 'member') {
  const log = Buffer.alloc(logRegionBytes(S, B));
  initLogHeader(log, S, B);
  log.writeDoubleLE(771, H_MIN_PROPOSAL);
  for (const [index, proposal] of slots) {
    writeSlot(log, slotOffset(index, S, B), { proposal, index, commitIndex: 0, kind: SLOT_KIND_ENTRY, payload: Buffer.from(`e${index}`) });
  }
  const ctl = Buffer.alloc(CTL_BYTES);
  writeControl(ctl, { incarnation: 1, heartbeat: 1, appliedIndex, firstUndecided: appliedIndex + 1, permissionHolder: 2, amnesic: status === 'amnesic', leaving: false });
  const reads: Array<{ region: string; offset: number; length: number }> = [];
  const ops = {
    read(_peer: number, region: string, offset: number, length: number, into: Buffer, cb: (c: Completion) => void) {
      reads.push({ region, offset, length });
      (region === LOG_REGION ? log : ctl).copy(into, 0, offset, offset + length);
      cb({ wrId: reads.length, peerId: 3, ok: true });
    },
  } as unknown as OpTable;
  return { log, ctl, ops, reads };
}

type FakePeer = ReturnType<typeof fakePeer>;

function read(peer: FakePeer, base: number, ops: OpTable = peer.ops): PeerLogOutcome {
  let out: PeerLogOutcome | null = null;
  readPeerLog({ peer: 3, ops, slotCount: S, slotBytes: B, firstReadBytes: 256 * 1024, base, wanted: () => true }, (o) => { out = o; });
  if (out === null) throw new Error('reader did not finish');
  return out;
}

/** The image read from `peer`; fails the test if the reader refused. */
function readImage(peer: FakePeer, base: number): LogImage {
  const o = read(peer, base);
  expect(o.kind).toBe('image');
  if (o.kind !== 'image') throw new Error(`refused: ${o.why}`);
  return o.image;
}

/** Slots holding indices from..to under `proposal`. */
const run = (from: number, to: number, proposal = 514): Array<[number, number]> => Array.from({ length: to - from + 1 }, (_, k) => [from + k, proposal]);
/** The candidate's own log, empty, having applied `base`. */
const emptyOwn = (base: number) => ringImage(1, Buffer.alloc(logRegionBytes(S, B)), base, S, B);
const logBytesRead = (p: FakePeer) => p.reads.filter((r) => r.region === LOG_REGION).reduce((n, r) => n + r.length, 0);
/** Reads of log slots (the header is at offset 0). */
const slotReads = (p: FakePeer) => p.reads.filter((r) => r.region === LOG_REGION && r.offset > 0);

test('reads the run past the candidate\'s applied index, not the whole ring, and recovers the same as a whole-ring read', () => {
  const peer = fakePeer(run(1, 100), 90);
  const image = readImage(peer, 88);
  expect(logBytesRead(peer)).toBeLessThan(logRegionBytes(S, B) / 3);
  const viaWindows = recover(88, [emptyOwn(88), image], S, B);
  const viaRing = recover(88, [emptyOwn(88), ringImage(3, peer.log, 90, S, B)], S, B);
  expect(viaWindows).toEqual(viaRing);
  expect(viaWindows.kind === 'adopt' && viaWindows.entries.map((e) => e.payload.toString())).toEqual(['e89', 'e90', 'e91', 'e92', 'e93', 'e94', 'e95', 'e96', 'e97', 'e98', 'e99', 'e100']);
  expect(image.minProposal).toBe(771);
});

test('reads further windows, across the end of the ring, while the run goes on', () => {
  const peer = fakePeer(run(101, 160), 100); // ring positions 100..127, then 0..31
  const r = recover(100, [emptyOwn(100), readImage(peer, 100)], S, B);
  expect(r.kind === 'adopt' && r.entries.length).toBe(60);
  // The first window (101..132) wrapped past the ring's last slot (two reads) and ended inside the
  // run, so a second window (133..164) was read.
  expect(slotReads(peer).length).toBe(3);
});

test('a candidate far behind reads what the peer applied in one more round, and checks each slot once', () => {
  const peer = fakePeer(run(1, 90), 90);
  const image = readImage(peer, 0);
  // 1..32 first, then the rest of what it applied and as much again: 33..122.
  expect(slotReads(peer).map((r) => r.length / B)).toEqual([32, 90]);
  expect(image.scanned).toEqual({ base: 0, run: { stop: 'gap', end: 90, highestProposal: 514, next: 91, firstUnheld: Infinity } });
  const r = recover(0, [emptyOwn(0), image], S, B);
  expect(r.kind === 'adopt' && r.entries.length).toBe(90);
});

test('a peer behind a whole ring is reported as such, and an amnesic peer refuses', () => {
  const ahead = fakePeer([[140, 514]], 139); // index 140 sits where 12 would: more than a ring above base 0
  expect(recover(0, [readImage(ahead, 0)], S, B)).toMatchObject({ kind: 'needs-snapshot' });
  expect(read(fakePeer([], 0, 'amnesic'), 0)).toEqual({ kind: 'refused', why: 'amnesic' });
});

test('a failed read refuses the image', () => {
  const peer = fakePeer([[1, 257]], 0);
  const ops = {
    read(_p: number, region: string, _o: number, _l: number, _into: Buffer, cb: (c: Completion) => void) {
      cb({ wrId: 1, peerId: 3, ok: region !== CTL_REGION, error: region === CTL_REGION ? 'unreachable' : undefined });
    },
  } as unknown as OpTable;
  expect(read(peer, 0, ops)).toEqual({ kind: 'refused', why: 'control read failed' });
  expect(peer.reads).toEqual([]);
});
