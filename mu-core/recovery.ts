/**
 * What a new leader adopts (pure logic over log images read from a majority, its own included).
 *
 * For every index above what the candidate has applied (`base`) up to the highest index any image
 * holds, the value with the highest proposal number wins (Paxos: a decided value is held by a
 * majority, which intersects ours, and every later proposal carried it). An index nobody holds was
 * never decided, so it becomes a no-op. An index that every image has already overwritten with a
 * later lap of the ring was applied by those nodes and is decided, but the candidate can no longer
 * read it: the candidate needs a state transfer first.
 */
import { readMinProposal, readSlot, slotOffset, SLOT_KIND_NOOP } from './layout';

export interface LogImage {
  peerId: number;
  /** The whole log region as read (header + ring). */
  log: Buffer;
  /** The image owner's applied index, from its control region. */
  appliedIndex: number;
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

export function recover(base: number, images: LogImage[], slotCount: number, slotBytes: number): RecoveryResult {
  let highestProposalSeen = 0;
  let hi = base;
  for (const img of images) {
    highestProposalSeen = Math.max(highestProposalSeen, readMinProposal(img.log));
    for (let k = 0; k < slotCount; k++) {
      const s = readSlot(img.log, slotOffset(k + 1, slotCount, slotBytes), slotBytes);
      if (s === null) continue;
      highestProposalSeen = Math.max(highestProposalSeen, s.proposal);
      if (s.index > hi) hi = s.index;
    }
  }
  const mostApplied = images.reduce((a, b) => (b.appliedIndex > a.appliedIndex ? b : a));
  if (hi - base > slotCount) {
    return { kind: 'needs-snapshot', fromPeer: mostApplied.peerId, highestProposalSeen };
  }
  const entries: AdoptedEntry[] = [];
  for (let i = base + 1; i <= hi; i++) {
    const off = slotOffset(i, slotCount, slotBytes);
    let best: AdoptedEntry | null = null;
    let overwrittenEverywhere = true;
    for (const img of images) {
      const s = readSlot(img.log, off, slotBytes);
      if (s === null || s.index < i) {
        overwrittenEverywhere = false;
        continue;
      }
      if (s.index > i) continue;
      overwrittenEverywhere = false;
      if (best === null || s.proposal > best.foundProposal) {
        best = {
          index: i,
          kind: s.kind,
          payload: Buffer.from(img.log.subarray(s.payloadOffset, s.payloadOffset + s.length)),
          foundProposal: s.proposal,
        };
      }
    }
    if (best === null && (overwrittenEverywhere || images.some((img) => img.appliedIndex >= i))) {
      return { kind: 'needs-snapshot', fromPeer: mostApplied.peerId, highestProposalSeen };
    }
    entries.push(best ?? { index: i, kind: SLOT_KIND_NOOP, payload: Buffer.alloc(0), foundProposal: 0 });
  }
  return { kind: 'adopt', entries, highestProposalSeen };
}
