/**
 * Safety properties of a simulation run, checked incrementally as events happen (so after every
 * step). A violation throws at once, with what was seen.
 *
 * - Agreement: no two nodes apply different entries at the same index; an entry sits at one index.
 * - Order: each node applies increasing indices and never skips an index a client saw committed.
 * - Durability: an entry a client saw committed is the one every node applies at that index.
 * - Resigned nodes: no proposal made on a node after it resigned is ever reported committed.
 * - Deposed leaders: no slot lands in a log that already holds a slot of a higher proposal, and a
 *   paused leader that resumed never gets a proposal made after waking committed under a proposal
 *   number older than a leader elected while it slept.
 * - Lost proposals (LostLeadership): one that names no index (never written) is never applied
 *   anywhere; one that names an index is applied, if ever, at that index only. The daemon answers
 *   such a write from what the pump delivers there (replicated-engine.ts).
 */
import { LOG_HEADER_BYTES, LOG_REGION, readSlot } from '../layout';

export class SafetyViolation extends Error {}

interface NodeView {
  lastApplied: number;
  entries: Map<number, string>;
}

export class SafetyChecker {
  readonly chosen = new Map<number, string>();
  readonly indexOf = new Map<string, number>();
  readonly committed = new Map<string, { index: number; proposal: number; node: number }>();
  private readonly nodes = new Map<number, NodeView>();
  private readonly maxSlotProposal = new Map<number, number>();
  private highestLandedProposal = 0;
  /** Proposal number a resumed node's new proposals must beat. */
  private readonly resumeFloor = new Map<number, number>();
  /** Entries whose proposal failed with LostLeadership: the index they may only ever sit at (0: none). */
  private readonly lostAt = new Map<string, number>();

  constructor(private readonly slotBytes: number) {}

  view(node: number): NodeView {
    let v = this.nodes.get(node);
    if (v === undefined) {
      v = { lastApplied: 0, entries: new Map() };
      this.nodes.set(node, v);
    }
    return v;
  }

  /** The node restarted empty: its application state is gone. */
  forget(node: number): void {
    this.nodes.delete(node);
    this.maxSlotProposal.delete(node);
  }

  private fail(msg: string): never {
    throw new SafetyViolation(msg);
  }

  private bind(index: number, payload: string, who: string): void {
    const c = this.chosen.get(index);
    if (c !== undefined && c !== payload) this.fail(`${who}: index ${index} holds "${payload}" but "${c}" was chosen there`);
    const at = this.indexOf.get(payload);
    if (at !== undefined && at !== index) this.fail(`${who}: entry "${payload}" at index ${index} and at index ${at}`);
    const lost = this.lostAt.get(payload);
    if (lost !== undefined && lost !== index) {
      this.fail(`${who}: entry "${payload}" at index ${index}, but its proposer was told it could only ever be at ${lost === 0 ? 'no index (never written)' : `index ${lost}`}`);
    }
    this.chosen.set(index, payload);
    this.indexOf.set(payload, index);
  }

  onApply(node: number, index: number, payload: string): void {
    const v = this.view(node);
    if (index <= v.lastApplied) this.fail(`node ${node} applied index ${index} after ${v.lastApplied}`);
    for (let i = v.lastApplied + 1; i < index; i++) {
      const c = this.chosen.get(i);
      if (c !== undefined && this.committed.has(c)) this.fail(`node ${node} skipped committed index ${i} ("${c}") on its way to ${index}`);
    }
    this.bind(index, payload, `node ${node} apply`);
    v.lastApplied = index;
    v.entries.set(index, payload);
  }

  /** `floor`: floorFor(node) taken when the proposal was made; `afterResign`: the node had resigned then. */
  onCommitted(node: number, payload: string, index: number, proposal: number, floor: number, afterResign = false): void {
    if (afterResign) this.fail(`node ${node} resigned and still committed "${payload}" (index ${index}, proposal ${proposal})`);
    this.bind(index, payload, `node ${node} commit`);
    if (this.committed.has(payload)) this.fail(`entry "${payload}" reported committed twice`);
    this.committed.set(payload, { index, proposal, node });
    if (proposal < floor) {
      this.fail(`node ${node} resumed and committed "${payload}" under stale proposal ${proposal} (< ${floor})`);
    }
  }

  /** A proposal failed with LostLeadership naming `entryIndex` (0: it was never written). */
  onLost(node: number, payload: string, entryIndex: number): void {
    const at = this.indexOf.get(payload);
    if (at !== undefined && at !== entryIndex) this.fail(`node ${node} lost "${payload}" naming index ${entryIndex}, but it is already at index ${at}`);
    if (this.committed.has(payload)) this.fail(`entry "${payload}" was reported committed and then lost`);
    this.lostAt.set(payload, entryIndex);
  }

  onSnapshot(node: number, entries: Map<number, string>, upTo: number): void {
    const v = this.view(node);
    for (const [i, p] of entries) this.bind(i, p, `node ${node} snapshot`);
    for (const [i, p] of this.committedAtOrBelow(upTo)) {
      if (entries.get(i) !== p) this.fail(`snapshot up to ${upTo} for node ${node} misses committed index ${i}`);
    }
    v.entries = new Map(entries);
    v.lastApplied = Math.max(v.lastApplied, upTo);
  }

  /** The proposal number a proposal made now by `node` must not be committed below (0 = no bound). */
  floorFor(node: number): number {
    return this.resumeFloor.get(node) ?? 0;
  }

  onResume(node: number): void {
    this.resumeFloor.set(node, this.highestLandedProposal);
  }

  /** Every write that landed in some node's memory (fabric hook). */
  onLanded(writer: number, target: number, region: string, offset: number, data: Buffer): void {
    if (region !== LOG_REGION || offset < LOG_HEADER_BYTES) return;
    for (let at = 0; at + 40 <= data.length; at += this.slotBytes) {
      const s = readSlot(data, at, Math.min(this.slotBytes, data.length - at));
      if (s === null) continue;
      const max = this.maxSlotProposal.get(target) ?? 0;
      if (s.proposal < max) {
        this.fail(`node ${writer} wrote slot ${s.index} under proposal ${s.proposal} into node ${target}'s log, which holds proposal ${max}`);
      }
      this.maxSlotProposal.set(target, s.proposal);
      if (s.proposal > this.highestLandedProposal) this.highestLandedProposal = s.proposal;
    }
  }

  /** End of run: every live node holds every committed entry at its index. */
  checkComplete(liveNodes: number[], appliedOf: (node: number) => number): void {
    for (const node of liveNodes) {
      const v = this.view(node);
      for (const [payload, c] of this.committed) {
        if (appliedOf(node) < c.index) this.fail(`node ${node} applied only up to ${appliedOf(node)}, committed "${payload}" is at ${c.index}`);
        if (v.entries.get(c.index) !== payload) this.fail(`node ${node} holds "${v.entries.get(c.index)}" at ${c.index}, committed was "${payload}"`);
      }
    }
  }

  private *committedAtOrBelow(upTo: number): Iterable<[number, string]> {
    for (const c of this.committed.values()) if (c.index <= upTo) yield [c.index, this.chosen.get(c.index)!];
  }
}
