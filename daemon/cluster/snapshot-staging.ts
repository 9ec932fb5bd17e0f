/**
 * The receiving side of a snapshot transfer, as pure bookkeeping: parts are staged and handed out
 * whole, once the last one arrived, so the store is replaced in one step (readers never see a
 * half-installed store) and two transfers that overlap (a slow one and its retry, or an old and a
 * new leader) can never mix their parts.
 *
 * Rules: part 0 starts a transfer, superseding any unfinished one; any other part must continue the
 * transfer being staged, in order, or it is refused (its sender gives up; Mu asks again). A complete
 * snapshot no newer than what this node already applied is dropped: installing it would lose the
 * entries applied since.
 */
import type { Effect } from '../cache/effects';
import type { SnapshotOutcome } from '../cache/outcomes';

export interface SnapshotPart {
  transfer: string;
  part: number;
  effects: Effect[];
  /** Outcomes of forwarded writes (cache/outcomes.ts); absent from older senders' parts. */
  outcomes?: SnapshotOutcome[];
  /** The log index the snapshot reflects (every part of a transfer carries the same). */
  index: number;
  done: boolean;
}

export type StagingOutcome =
  | { kind: 'staged' }
  | { kind: 'install'; effects: Effect[]; outcomes: SnapshotOutcome[]; index: number }
  | { kind: 'stale'; index: number };

export class SnapshotStaging {
  private current?: { transfer: string; nextPart: number; index: number; effects: Effect[]; outcomes: SnapshotOutcome[] };

  /** Throws on a part that is out of order or belongs to a superseded transfer. */
  accept(p: SnapshotPart, appliedIndex: number): StagingOutcome {
    if (p.part === 0) this.current = { transfer: p.transfer, nextPart: 0, index: p.index, effects: [], outcomes: [] };
    const cur = this.current;
    if (cur === undefined || cur.transfer !== p.transfer || cur.nextPart !== p.part || cur.index !== p.index) {
      throw new Error(`snapshot part ${p.part} of transfer ${p.transfer} refused: superseded or out of order`);
    }
    for (const e of p.effects) cur.effects.push(e);
    for (const o of p.outcomes ?? []) cur.outcomes.push(o);
    cur.nextPart++;
    if (!p.done) return { kind: 'staged' };
    this.current = undefined;
    if (p.index <= appliedIndex) return { kind: 'stale', index: p.index };
    return { kind: 'install', effects: cur.effects, outcomes: cur.outcomes, index: p.index };
  }
}
