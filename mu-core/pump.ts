/**
 * The reading pump: hands the application every decided entry of this node's own log, in index
 * order, exactly once, and never a torn slot.
 *
 * Invariant: slot i is delivered only when it validates, carries index i, and the best commit marker
 * known (highest proposal, then highest index) has the slot's own proposal number and covers i.
 * Markers come from the log header (published by the leader when idle) and from the commit point
 * piggybacked in slots. On the leader the same pump runs, fed with the leader's commit directly.
 */
import { CommitMarker, readCommitMarker, readSlot, slotOffset, SLOT_KIND_ENTRY } from './layout';

/** Called for each decided application entry. `payload` is a view of the log: copy it to keep it. */
export type EntryHandler = (index: number, payload: Buffer) => void;

export class ReadingPump {
  appliedIndex = 0;
  /** Highest index installed by a snapshot: our own log slots up to it may hold undecided leftovers. */
  snapshotIndex = 0;
  private marker: CommitMarker = { commitIndex: 0, proposal: 0 };
  /** How many slots past a blocked one the pump peeks for a newer piggybacked commit point. */
  private readonly peekSlots: number;

  constructor(
    private readonly log: Buffer,
    private readonly slotCount: number,
    private readonly slotBytes: number,
    private readonly onEntry: EntryHandler,
  ) {
    this.peekSlots = Math.min(16, slotCount - 1);
  }

  get commitKnown(): number {
    return this.marker.commitIndex;
  }

  get markerProposal(): number {
    return this.marker.proposal;
  }

  /** A marker told directly (the leader's own commit point). */
  learn(m: CommitMarker): void {
    if (m.proposal > this.marker.proposal || (m.proposal === this.marker.proposal && m.commitIndex > this.marker.commitIndex)) {
      this.marker = { commitIndex: m.commitIndex, proposal: m.proposal };
    }
  }

  /** The application installed a snapshot holding every entry up to `index`. */
  skipTo(index: number): void {
    if (index > this.appliedIndex) this.appliedIndex = index;
    if (index > this.snapshotIndex) this.snapshotIndex = index;
  }

  /**
   * Deliver what is decided now, at most `maxEntries`; returns the number of slots consumed.
   * `ownWrites`: the leader's own log, written by this thread, needs no checksum check.
   */
  run(maxEntries: number, ownWrites = false): number {
    const header = readCommitMarker(this.log);
    if (header !== null) this.learn(header);
    let consumed = 0;
    while (consumed < maxEntries) {
      const i = this.appliedIndex + 1;
      const s = readSlot(this.log, slotOffset(i, this.slotCount, this.slotBytes), this.slotBytes, ownWrites);
      if (s === null || s.index !== i) break;
      if (!(s.proposal === this.marker.proposal && i <= this.marker.commitIndex)) {
        if (!this.peekForMarker(i)) break;
        if (!(s.proposal === this.marker.proposal && i <= this.marker.commitIndex)) break;
      }
      // The payload view stays valid while the handler runs: the leader overwrites slot i only
      // after it read an applied index >= i from our control region, published after this returns.
      if (s.kind === SLOT_KIND_ENTRY) this.onEntry(i, this.log.subarray(s.payloadOffset, s.payloadOffset + s.length));
      this.appliedIndex = i;
      consumed++;
    }
    return consumed;
  }

  /** Learns markers piggybacked in slots i..i+peek; true if the marker changed. */
  private peekForMarker(i: number): boolean {
    const before = this.marker;
    for (let j = i; j <= i + this.peekSlots; j++) {
      const s = readSlot(this.log, slotOffset(j, this.slotCount, this.slotBytes), this.slotBytes);
      if (s === null || s.index !== j) break;
      this.learn({ commitIndex: s.commitIndex, proposal: s.proposal });
    }
    return this.marker !== before;
  }
}
