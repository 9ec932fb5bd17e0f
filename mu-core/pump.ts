/**
 * The reading pump: hands the application every decided entry of this node's own log, in index
 * order, exactly once, and never a torn slot.
 *
 * Invariant: slot i is delivered only when it validates, carries index i, and the best commit marker
 * known (highest proposal, then highest index) has the slot's own proposal number and covers i.
 * Markers come from the log header (published by the leader when idle) and from the commit point
 * piggybacked in slots. On the leader the same pump runs, fed with the leader's commit directly.
 * An entry in parts (layout.ts) is delivered once, at its last index, when every part is decided and
 * carries the entry's identity; a decided slot in its span that does not abandons it. Each part is
 * copied out of its own checked private copy, so the entry is whole even if the log changes meanwhile.
 *
 * A follower's log is written one-sided by the leader while this pump reads it (on shm from another
 * process, truly at the same time). Right after a leader change the new leader rewrites the very slot
 * the pump is waiting on (it syncs from our published applied index + 1), so the pump copies each
 * slot into a private buffer first and checks, interprets and delivers only that copy: the entry
 * handed over is exactly the bytes whose checksum matched, whatever lands in the log meanwhile.
 */
import { invariant } from './errors';
import {
  CommitMarker, copySlot, isFormat1Slot, PART_HEADER_BYTES, partChunkBytes, readCommitMarker, readPartHeader, readSlot, slotOffset, SlotView,
  SLOT_KIND_ENTRY, SLOT_KIND_PART, viewOf,
} from './layout';

/**
 * Called for each decided application entry. `payload` is a view of the log (leader) or of the
 * pump's private copy (follower), valid only during the call: copy it to keep it.
 */
export type EntryHandler = (index: number, payload: Buffer) => void;

/**
 * Called for an index the pump passes without an application entry: a no-op, or the first slot of
 * an abandoned entry in parts. With the entry handler it tells the application every step of the
 * applied index (an entry in parts is told once, at its last index): an application that waits for
 * an index (a new leader waiting to have applied its predecessor's entries) must learn that the
 * pump passed it even when nothing there was for it.
 */
export type SkipHandler = (index: number) => void;

export class ReadingPump {
  appliedIndex = 0;
  /** Highest index installed by a snapshot: our own log slots up to it may hold undecided leftovers. */
  snapshotIndex = 0;
  /** The best commit marker known (two numbers, not an object: the leader learns one per commit). */
  private markerIndex = 0;
  private markerProposalNo = 0;
  /** How many slots past a blocked one the pump peeks for a newer piggybacked commit point. */
  private readonly peekSlots: number;
  /** Private copy of the slot being examined on a follower (see the top of this file). */
  private readonly slotCopy: Buffer;
  private readonly slotCopyView: DataView;
  private readonly logView: DataView;
  /**
   * After a run: the last index of the multi-slot entry the pump stopped at because not all of its
   * parts are decided yet (0 if it stopped for another reason). The leader's commit point may stop
   * inside such an entry; the entry is applied when the commit point passes its end.
   */
  awaitedEntryEnd = 0;
  /**
   * Where an entry in parts is assembled, kept from one to the next (grown to the largest seen): the
   * handler gets a view valid only during its call (EntryHandler), and a fresh megabyte per entry
   * cost a follower an allocation, page faults and garbage collections for every large write.
   */
  private assembly = Buffer.alloc(0);
  /** Runs in a row that found the slot waited on whole under format 1's checksum only (see decidedSlot). */
  private format1Runs = 0;

  constructor(
    private readonly log: Buffer,
    private readonly slotCount: number,
    private readonly slotBytes: number,
    private readonly onEntry: EntryHandler,
    private readonly onSkip: SkipHandler = () => undefined,
  ) {
    this.peekSlots = Math.min(16, slotCount - 1);
    this.slotCopy = Buffer.alloc(slotBytes);
    this.slotCopyView = viewOf(this.slotCopy);
    this.logView = viewOf(log);
  }

  get commitKnown(): number {
    return this.markerIndex;
  }

  get markerProposal(): number {
    return this.markerProposalNo;
  }

  /** A marker told directly (the leader's own commit point). */
  learn(m: CommitMarker): void {
    this.learnMarker(m.commitIndex, m.proposal);
  }

  /** learn, from its two numbers. */
  learnMarker(commitIndex: number, proposal: number): void {
    if (proposal > this.markerProposalNo || (proposal === this.markerProposalNo && commitIndex > this.markerIndex)) {
      this.markerIndex = commitIndex;
      this.markerProposalNo = proposal;
    }
  }

  /** The application installed a snapshot holding every entry up to `index`. */
  skipTo(index: number): void {
    if (index > this.appliedIndex) this.appliedIndex = index;
    if (index > this.snapshotIndex) this.snapshotIndex = index;
  }

  /**
   * Deliver what is decided now, at most `maxEntries` (an entry in parts, a no-op or a skipped slot
   * counts one); returns how many.
   * `ownWrites`: the leader's own log, written by this thread, needs no checksum check.
   * `proposedAt`: on the leader, the payload it proposed as the entry ending at an index, if it did
   * (not one adopted from a predecessor): an entry in parts is then delivered as that Buffer, whose
   * bytes the parts were cut from, instead of a copy assembled from the log (a megabyte entry cost
   * a megabyte allocation and copy per commit).
   */
  run(maxEntries: number, ownWrites = false, proposedAt?: (lastIndex: number) => Buffer | undefined): number {
    // The leader's commit point is told directly (learn); nobody else writes its log header while it leads.
    if (!ownWrites) {
      const header = readCommitMarker(this.log);
      if (header !== null) this.learn(header);
    }
    this.awaitedEntryEnd = 0;
    let consumed = 0;
    while (consumed < maxEntries) {
      const i = this.appliedIndex + 1;
      // The leader's own commit point is all it applies by (its slots never carry a later one).
      if (ownWrites && i > this.markerIndex) break;
      const s = this.decidedSlot(i, ownWrites);
      if (s === null) break;
      if (s.kind === SLOT_KIND_ENTRY) {
        const buf = ownWrites ? this.log : this.slotCopy;
        this.onEntry(i, buf.subarray(s.payloadOffset, s.payloadOffset + s.length));
        this.appliedIndex = i;
      } else if (s.kind === SLOT_KIND_PART) {
        const outcome = this.multiSlotEntry(i, s, ownWrites, proposedAt);
        if (outcome === 'wait') break;
        // Abandoned (or an orphan part): index i carries nothing, the rest is looked at on its own.
        if (outcome === 'abandoned') {
          this.appliedIndex = i;
          this.onSkip(i);
        } else {
          this.onEntry(outcome.lastIndex, outcome.payload);
          this.appliedIndex = outcome.lastIndex;
        }
      } else {
        this.appliedIndex = i;
        this.onSkip(i);
      }
      consumed++;
    }
    return consumed;
  }

  /** Slot i if it is decided (peeking ahead for a newer commit point if needed), else null. */
  private decidedSlot(i: number, ownWrites: boolean): SlotView | null {
    let s = this.slot(i, ownWrites);
    if (s === null && !ownWrites) this.checkFormat1(i);
    if (s === null || s.index !== i) return null;
    this.format1Runs = 0;
    if (!(s.proposal === this.markerProposalNo && i <= this.markerIndex)) {
      // Peeking reuses the private copy: take slot i again afterwards (it may have changed).
      if (!this.peekForMarker(i, ownWrites)) return null;
      s = this.slot(i, ownWrites);
      if (s === null || s.index !== i) return null;
      if (!(s.proposal === this.markerProposalNo && i <= this.markerIndex)) return null;
    }
    return s;
  }

  /**
   * The entry whose part 0 is the decided slot i (`head`), assembled from private copies of its
   * decided parts; 'wait' until each part is decided or one is found that does not belong
   * (layout.ts: the entry is then abandoned, as it is when slot i is itself an orphan part).
   */
  private multiSlotEntry(
    i: number, head: SlotView, ownWrites: boolean, proposedAt?: (lastIndex: number) => Buffer | undefined,
  ): { lastIndex: number; payload: Buffer } | 'wait' | 'abandoned' {
    const buf = () => (ownWrites ? this.log : this.slotCopy);
    const id = readPartHeader(buf(), head.payloadOffset);
    if (id.partNo !== 0 || id.entryStart !== i) return 'abandoned';
    const k = id.partCount;
    invariant(k >= 2 && k <= this.slotCount, `entry at ${i} claims ${k} parts in a ring of ${this.slotCount}`);
    // Parts are still checked one by one below; only the copy is saved.
    const proposed = ownWrites && proposedAt !== undefined ? proposedAt(i + k - 1) : undefined;
    const out = proposed === undefined ? this.assemblyOf(k * partChunkBytes(this.slotBytes)) : null;
    let filled = 0;
    for (let part = 0; part < k; part++) {
      const j = i + part;
      const s = part === 0 ? head : this.decidedSlot(j, ownWrites);
      if (s === null) {
        this.awaitedEntryEnd = i + k - 1;
        return 'wait';
      }
      if (s.kind !== SLOT_KIND_PART) return 'abandoned';
      const h = readPartHeader(buf(), s.payloadOffset);
      if (h.entryStart !== i || h.entryProposal !== id.entryProposal || h.partNo !== part || h.partCount !== k) return 'abandoned';
      if (out !== null) buf().copy(out, filled, s.payloadOffset + PART_HEADER_BYTES, s.payloadOffset + s.length);
      filled += s.length - PART_HEADER_BYTES;
    }
    if (out !== null) return { lastIndex: i + k - 1, payload: out.subarray(0, filled) };
    invariant(proposed!.length === filled, `entry at ${i}: proposed ${proposed!.length} bytes, its parts hold ${filled}`);
    return { lastIndex: i + k - 1, payload: proposed! };
  }

  private assemblyOf(bytes: number): Buffer {
    if (this.assembly.length < bytes) this.assembly = Buffer.allocUnsafeSlow(bytes);
    return this.assembly;
  }

  /**
   * Slot i as one consistent whole: on the leader (`ownWrites`) its own log, which nobody else writes
   * while it leads; on a follower a checked private copy (payloadOffset is then relative to slotCopy).
   */
  private slot(i: number, ownWrites: boolean, trusted = ownWrites): SlotView | null {
    const offset = slotOffset(i, this.slotCount, this.slotBytes);
    if (ownWrites) return readSlot(this.log, offset, this.slotBytes, trusted, this.logView);
    return copySlot(this.log, offset, this.slotBytes, this.slotCopy, this.logView, this.slotCopyView);
  }

  /**
   * Slot i failed our checksum: if it is whole under format 1's (a leader running an older mucached
   * wrote it), this node can never apply it, nor anything after it. Seen on three runs in a row (a
   * torn write matching the old checksum by chance would not stay so), that is fatal, with a message
   * that says why instead of a pump stuck without a word.
   */
  private checkFormat1(i: number): void {
    if (!isFormat1Slot(this.log, this.logView, slotOffset(i, this.slotCount, this.slotBytes), this.slotBytes, i)) return;
    this.format1Runs++;
    invariant(this.format1Runs < 3, `the leader wrote index ${i} in log format 1 (an older mucached): this node runs format 2 and cannot follow it; every member must run the same log format, restart the whole cluster on one version`);
  }

  /** Learns markers piggybacked in slots i..i+peek; true if the marker changed. */
  private peekForMarker(i: number, ownWrites: boolean): boolean {
    const beforeIndex = this.markerIndex;
    const beforeProposal = this.markerProposalNo;
    for (let j = i; j <= i + this.peekSlots; j++) {
      // Checked even on the leader: slots past its log end may be leftovers written by others.
      const s = this.slot(j, ownWrites, false);
      if (s === null || s.index !== j) break;
      this.learnMarker(s.commitIndex, s.proposal);
    }
    return this.markerIndex !== beforeIndex || this.markerProposalNo !== beforeProposal;
  }
}
