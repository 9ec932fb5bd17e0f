/**
 * A prepare's reads of one peer: its control words, its log header and, from the candidate's applied
 * index + 1 on, windows of its log slots until the run that can hold decided values ends
 * (recovery.ts). A take-over used to read whole rings (megabytes over tcp, and a checksum per slot);
 * the run past the candidate's applied index is usually a few slots.
 */
import type { PeerId } from '../binding/fabric';
import { invariant } from './errors';
import { CTL_BYTES, CTL_REGION, LOG_HEADER_BYTES, LOG_REGION, logFormatMismatch, readControl, readMinProposal } from './layout';
import type { OpTable } from './ops';
import { ImageRun, LogImage, scanRun, windowImage } from './recovery';

/** The first window holds at least this many slots (MuConfig.prepareFirstReadBytes sets its bytes). */
const MIN_FIRST_WINDOW_SLOTS = 4;

export type PeerLogOutcome =
  | { kind: 'image'; image: LogImage }
  /** The peer may not vote (amnesic or leaving), or a read failed. */
  | { kind: 'refused'; why: string };

export interface PeerLogReadInput {
  peer: PeerId;
  ops: OpTable;
  slotCount: number;
  slotBytes: number;
  /** Bytes of slots in the first window (MuConfig.prepareFirstReadBytes, which says how the next ones grow). */
  firstReadBytes: number;
  /** The candidate's applied index: slots are read from base + 1. */
  base: number;
  /** False once the take-over no longer needs the answer (settled or cancelled): read no further. */
  wanted(): boolean;
  /** An operator forced the election (MuNode.forceElection): a node restarted empty counts too. */
  acceptAmnesic?: boolean;
}

export function readPeerLog(input: PeerLogReadInput, done: (o: PeerLogOutcome) => void): void {
  const { peer, ops, slotCount, slotBytes, base, firstReadBytes } = input;
  const header = Buffer.alloc(LOG_HEADER_BYTES);
  const ctl = Buffer.alloc(CTL_BYTES);
  // Sized for a whole ring but filled only as far as windows are read.
  const slots = Buffer.allocUnsafe(slotCount * slotBytes);
  let readSlots = 0;
  let failed: string | null = null;
  /** The scan so far, resumed after each window. */
  let run: ImageRun | undefined;

  /** Reads the slots of indices base + 1 + readSlots ... (count of them) into `slots`, in index order. */
  const readWindow = (count: number, then: () => void): void => {
    const first = base + 1 + readSlots;
    const ringPos = (first - 1) % slotCount;
    const before = Math.min(count, slotCount - ringPos);
    const parts: Array<[offset: number, slotsInPart: number]> = [[LOG_HEADER_BYTES + ringPos * slotBytes, before]];
    if (count > before) parts.push([LOG_HEADER_BYTES, count - before]);
    let pending = parts.length;
    let at = readSlots * slotBytes;
    // Counted before posting: a read may complete (and `then` run) inside ops.read.
    readSlots += count;
    for (const [offset, n] of parts) {
      ops.read(peer, LOG_REGION, offset, n * slotBytes, slots.subarray(at, at + n * slotBytes), (c) => {
        if (!c.ok && failed === null) failed = `log read failed (${c.error ?? 'error'})`;
        if (--pending === 0) then();
      });
      at += n * slotBytes;
    }
  };

  const evaluate = (): void => {
    if (!input.wanted()) return;
    if (failed !== null) {
      done({ kind: 'refused', why: failed });
      return;
    }
    const words = readControl(ctl);
    // A restarted node that no leader synced yet may have forgotten accepted values: not a voter.
    // Nor is a leaving one: it is about to exit, and counting it would only make the prepare
    // depend on a node that goes away mid-way.
    if (words === null || (words.amnesic && input.acceptAmnesic !== true) || words.leaving) {
      done({ kind: 'refused', why: words === null ? 'control words unreadable' : words.amnesic ? 'amnesic' : 'leaving' });
      return;
    }
    // A member with another log format or ring geometry: nothing it holds can be interpreted. Crash loudly.
    const mismatch = logFormatMismatch(header, slotCount, slotBytes);
    if (mismatch !== null) invariant(false, `node ${peer}: ${mismatch}`);
    const image = windowImage(peer, words.appliedIndex, readMinProposal(header), base + 1, slots.subarray(0, readSlots * slotBytes), slotBytes);
    run = scanRun(image, base, slotCount, slotBytes, run);
    if (run.stop === 'unread' && readSlots < slotCount) {
      // As much again as was read, and at least the rest of what the peer applied (decided slots
      // the candidate lacks): a candidate far behind reads them in one more round, not in many.
      const appliedRest = words.appliedIndex - (base + readSlots);
      readWindow(Math.min(slotCount - readSlots, Math.max(readSlots, appliedRest + readSlots)), evaluate);
      return;
    }
    image.scanned = { base, run };
    done({ kind: 'image', image });
  };

  // Control words first: the applied index they report is then a lower bound when the log is read.
  let pending = 3;
  const one = (ok: boolean, what: string) => {
    if (!ok && failed === null) failed = `${what} read failed`;
    if (--pending === 0) evaluate();
  };
  ops.read(peer, CTL_REGION, 0, CTL_BYTES, ctl, (c) => one(c.ok, 'control'));
  ops.read(peer, LOG_REGION, 0, LOG_HEADER_BYTES, header, (c) => one(c.ok, 'log header'));
  const firstWindow = Math.min(slotCount, Math.max(MIN_FIRST_WINDOW_SLOTS, Math.ceil(firstReadBytes / slotBytes)));
  readWindow(firstWindow, () => one(true, 'log'));
}
