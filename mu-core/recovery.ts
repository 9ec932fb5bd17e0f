/**
 * What a new leader adopts (pure logic over log images read from a majority, its own included).
 *
 * For every index above what the candidate has applied (`base`) up to the highest index an image
 * holds, the value with the highest proposal number wins (Paxos: a decided value is held by a
 * majority, which intersects ours, and every later proposal carried it). An index nobody holds was
 * never decided, so it becomes a no-op. An index that an image has already overwritten with a later
 * lap of the ring was applied there and is decided, but the candidate can no longer read it: the
 * candidate needs a state transfer first.
 *
 * Only the run of each image that can hold a decided value is read (takeover.ts reads just that much
 * of a peer's log instead of its whole ring):
 * - indices up to the image owner's applied index: decided; each slot is used if it still holds its
 *   index (a node that installed a snapshot may hold none of them);
 * - above it, the slots that hold their own index, in order, up to the first that does not.
 * Why nothing decided lies beyond that first gap: a leader counts a follower as holding index i only
 * once every write of its term to that follower, from the follower's applied index + 1 through i,
 * completed (leader.ts, ackedIndex), so at that moment the follower's slots above its applied index
 * held their own indices without a gap. Later leaders rewrite the same indices (same slots, same
 * index) from the follower's applied index + 1, in order, and a slot takes a later lap only once its
 * index is applied. A gap above the applied index therefore comes from a write that never completed
 * (nothing after it was counted on that node) or one torn by a writer that died; that writer held
 * every entry it was rewriting, so the entries after the gap lost a copy and a live holder together,
 * and every majority of the live nodes still meets a node that holds them.
 */
import { readMinProposal, readSlot, slotOffset, SLOT_KIND_NOOP } from './layout';

/** The part of one node's log that a candidate has read. */
export interface LogImage {
  peerId: number;
  /** The image owner's applied index, from its control region (read before the log: a lower bound). */
  appliedIndex: number;
  /** The owner's minProposal (log header). */
  minProposal: number;
  /** Holds the slots read. */
  buf: Buffer;
  /** Offset in `buf` of the slot where index `index` lives, or -1 if that slot was not read. */
  offsetOf(index: number): number;
  /** Its run from `base` + 1, if the reader already scanned it (checksums are the cost of a take-over). */
  scanned?: { base: number; run: ImageRun };
}

/** A whole log region in memory (the candidate's own log; tests). */
export function ringImage(peerId: number, log: Buffer, appliedIndex: number, slotCount: number, slotBytes: number): LogImage {
  return { peerId, appliedIndex, minProposal: readMinProposal(log), buf: log, offsetOf: (index) => slotOffset(index, slotCount, slotBytes) };
}

/** Slots of consecutive indices firstIndex, firstIndex + 1, ... read into `slots` (one slotBytes each). */
export function windowImage(peerId: number, appliedIndex: number, minProposal: number, firstIndex: number, slots: Buffer, slotBytes: number): LogImage {
  const count = Math.floor(slots.length / slotBytes);
  return {
    peerId, appliedIndex, minProposal, buf: slots,
    offsetOf: (index) => (index >= firstIndex && index < firstIndex + count ? (index - firstIndex) * slotBytes : -1),
  };
}

export interface AdoptedEntry {
  index: number;
  kind: number;
  payload: Buffer;
  /** Proposal under which it was found (0 for a gap filled with a no-op). */
  foundProposal: number;
}

export type RecoveryResult =
  | { kind: 'adopt'; entries: AdoptedEntry[]; highestProposalSeen: number }
  | { kind: 'needs-snapshot'; fromPeer: number; highestProposalSeen: number };

/**
 * Where the useful run of one image ends (see the top of this file), scanning from base + 1:
 * - 'gap': a slot above the applied index does not hold its index; `end` is the last index held;
 * - 'later-lap': a slot holds an index a whole ring or more above its own: the owner is more than a
 *   ring ahead of `base`;
 * - 'unread': the run goes on past what was read (the reader reads further);
 * - 'ring': a whole ring above base was scanned.
 */
export interface ImageRun {
  stop: 'gap' | 'later-lap' | 'unread' | 'ring';
  /** Highest index held in the run (base if none). */
  end: number;
  /** Highest proposal number among the slots of the run. */
  highestProposal: number;
  /** The first index not examined: where a scan that stopped as 'unread' resumes. */
  next: number;
  /**
   * The first index the scan found not holding its own index (at or below the owner's applied
   * index, where the run goes on past it), or Infinity: every slot from base + 1 below it was
   * verified to hold its index.
   */
  firstUnheld: number;
}

/**
 * Scans from base + 1, or from where `resume` (a scan of the same image that stopped as 'unread')
 * stopped, so that each slot's checksum is computed once however many windows the reader reads.
 */
export function scanRun(img: LogImage, base: number, slotCount: number, slotBytes: number, resume?: ImageRun): ImageRun {
  const run: ImageRun = resume !== undefined
    ? { ...resume, stop: 'ring' }
    : { stop: 'ring', end: base, highestProposal: 0, next: base + 1, firstUnheld: Infinity };
  for (let i = run.next; i <= base + slotCount; i++) {
    run.next = i;
    const off = img.offsetOf(i);
    if (off < 0) {
      run.stop = 'unread';
      return run;
    }
    const s = readSlot(img.buf, off, slotBytes);
    if (s !== null && s.index > i) {
      run.stop = 'later-lap';
      return run;
    }
    if (s !== null && s.index === i) {
      run.end = i;
      if (s.proposal > run.highestProposal) run.highestProposal = s.proposal;
    } else if (i > img.appliedIndex) {
      run.stop = 'gap';
      return run;
    } else if (run.firstUnheld === Infinity) {
      run.firstUnheld = i;
    }
  }
  run.next = base + slotCount + 1;
  return run;
}

export function recover(base: number, images: LogImage[], slotCount: number, slotBytes: number): RecoveryResult {
  let highestProposalSeen = 0;
  let hi = base;
  let ahead = false;
  const runs: ImageRun[] = [];
  for (const img of images) {
    const run = img.scanned !== undefined && img.scanned.base === base ? img.scanned.run : scanRun(img, base, slotCount, slotBytes);
    highestProposalSeen = Math.max(highestProposalSeen, img.minProposal, run.highestProposal);
    if (run.stop === 'later-lap') ahead = true;
    runs.push(run);
    if (run.end > hi) hi = run.end;
  }
  const mostApplied = images.reduce((a, b) => (b.appliedIndex > a.appliedIndex ? b : a));
  if (ahead) return { kind: 'needs-snapshot', fromPeer: mostApplied.peerId, highestProposalSeen };
  const entries: AdoptedEntry[] = [];
  for (let i = base + 1; i <= hi; i++) {
    let best: AdoptedEntry | null = null;
    for (let k = 0; k < images.length; k++) {
      const img = images[k];
      const run = runs[k];
      if (i > run.end) continue;
      // Below firstUnheld the scan verified the slot, in this same call or in the reader's private
      // copy (the candidate's own log is not written meanwhile: it granted nobody its log when it
      // stood). Past it, a slot the scan rejected may be torn with an intact-looking header.
      const s = readSlot(img.buf, img.offsetOf(i), slotBytes, i < run.firstUnheld);
      if (s === null || s.index !== i) continue;
      if (best === null || s.proposal > best.foundProposal) {
        best = { index: i, kind: s.kind, payload: Buffer.from(img.buf.subarray(s.payloadOffset, s.payloadOffset + s.length)), foundProposal: s.proposal };
      }
    }
    // Decided (some image applied it) but held by nobody: only a state transfer brings it.
    if (best === null && images.some((img) => img.appliedIndex >= i)) {
      return { kind: 'needs-snapshot', fromPeer: mostApplied.peerId, highestProposalSeen };
    }
    entries.push(best ?? { index: i, kind: SLOT_KIND_NOOP, payload: Buffer.alloc(0), foundProposal: 0 });
  }
  return { kind: 'adopt', entries, highestProposalSeen };
}
