/**
 * A replication log for in-process tests of the replicated engine (not mu-core): proposals commit,
 * or fail, only when the test says so.
 */
import { encodeEffects } from '../../daemon/cache/effect-codec';
import type { ReplicatedEngine, ReplicationLog } from '../../daemon/cache/replicated-engine';

export class ScriptedLog implements ReplicationLog {
  role: 'leader' | 'follower' | 'candidate' = 'leader';
  leaderId: number | null = 1;
  readonly maxPayloadBytes = 4 * 1024 * 1024;
  readonly proposed: Buffer[] = [];
  private readonly open: Array<{ payload: Buffer; resolve: (i: number) => void; reject: (e: Error) => void }> = [];
  private nextIndex = 1;
  maxOutstanding = 0;
  /** Leader: where its term began (ReplicationLog.termStartIndex). */
  termStartIndex = 0;
  /** Entries of ours that were undecided when leadership was lost, oldest first. */
  readonly lost: Array<{ index: number; payload: Buffer }> = [];

  constructor(private readonly engine: () => ReplicatedEngine) {}

  propose(payload: Buffer): Promise<number> {
    this.proposed.push(payload);
    return new Promise((resolve, reject) => {
      this.open.push({ payload, resolve, reject });
      this.maxOutstanding = Math.max(this.maxOutstanding, this.open.length);
    });
  }

  get outstanding(): number {
    return this.open.length;
  }

  /** Commit the oldest outstanding proposal: the pump applies it, the proposer learns its index. */
  commitOldest(): void {
    const p = this.open.shift();
    if (!p) throw new Error('nothing to commit');
    const index = this.nextIndex++;
    this.engine().applyEntry(index, p.payload);
    p.resolve(index);
  }

  /** The pump passes the next index without an entry (a no-op, an abandoned entry in parts). */
  passIndex(): void {
    this.engine().passedIndex(this.nextIndex++);
  }

  /**
   * Leadership lost: every outstanding proposal fails with LostLeadership naming the index it was
   * written at in our log, as mu-core's do (the next indices, in order). Their fate comes later,
   * from `deliverLost`.
   */
  loseLeadership(newLeader: number): void {
    this.role = 'follower';
    this.leaderId = newLeader;
    let index = this.nextIndex;
    for (const p of this.open.splice(0)) {
      this.lost.push({ index, payload: p.payload });
      p.reject(Object.assign(new Error('lost leadership: test'), { code: 'LostLeadership', entryIndex: index++ }));
    }
  }

  /**
   * The pump reaches the oldest lost entry's index: it delivers that entry (`committed`: the next
   * leader adopted it) or another one decided there instead (an empty entry of the next leader).
   */
  deliverLost(committed: boolean): void {
    const l = this.lost.shift();
    if (!l) throw new Error('no lost entry');
    if (l.index !== this.nextIndex) throw new Error(`lost entry at ${l.index}, pump at ${this.nextIndex}`);
    this.nextIndex++;
    this.engine().applyEntry(l.index, committed ? l.payload : encodeEffects([]));
  }
}
