/**
 * Writes a follower forwarded to the leader and still waits on. A leader that freezes (a long GC
 * pause, SIGSTOP, a stalled VM) or is cut off never answers; a successor takes over within tens
 * of milliseconds, but the write would wait for its deadline and the answer grace, seconds. Once
 * this node knows another leader, the waits on the old one end with an error that says the outcome
 * is unknown: the old leader may have committed the write before it lost its grants. The engine
 * then sends the write again, with the same tag, to the new leader, which answers from its log if
 * the write took effect and does it otherwise (cache/outcomes.ts). The grace below is for a leader
 * that hands over and still answers; one that went silent (crashed, frozen, cut off: dead in this
 * node's view without announcing that it leaves) answers nothing, so its waits end at once.
 */
import { PeerLinkError } from './peer-link';

/** How long a new leader must be known before the forwards to the old one are given up: long
 *  enough for the answers of writes the old leader committed while handing over (a planned
 *  hand-off drains them) to arrive. */
export const ABANDON_AFTER_MS = 50;
const CHECK_EVERY_MS = 5;

export class ForwardsInFlight {
  private readonly waiting = new Map<number, Set<(e: Error) => void>>();
  private timer: NodeJS.Timeout | null = null;
  /** Since when the leader we know is not the one a forward waits on (per forward target). */
  private readonly otherLeaderSinceMs = new Map<number, number>();

  /**
   * `currentLeader`: the leader this node knows now (itself when it leads), null mid-election.
   * `silent(id)`: node `id` is dead in this node's view and did not announce that it leaves.
   */
  constructor(
    private readonly currentLeader: () => number | null,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly silent: (leaderId: number) => boolean = () => false,
  ) {}

  /** `answer`, unless another leader is known for ABANDON_AFTER_MS first (or at all, if the old one went silent). */
  track<T>(leaderId: number, answer: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let set = this.waiting.get(leaderId);
      if (set === undefined) this.waiting.set(leaderId, (set = new Set()));
      const waits = set;
      let settled = false;
      const abandon = (e: Error) => settle(() => reject(e));
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        waits.delete(abandon);
        if (waits.size === 0 && this.waiting.get(leaderId) === waits) this.waiting.delete(leaderId);
        fn();
      };
      waits.add(abandon);
      answer.then((v) => settle(() => resolve(v)), (e) => settle(() => reject(e)));
      this.watch();
    });
  }

  get size(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }

  /** The known leader changed (MuNode onLeaderChange): judge the waits now, not at the next check. */
  leaderChanged(): void {
    if (this.waiting.size > 0) this.check();
  }

  /** Ends every wait (the node stops). */
  close(reason: string): void {
    this.abandonAll(() => true, () => new PeerLinkError(`${reason}; outcome unknown`, false, true));
    this.stopWatching();
  }

  private watch(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  private stopWatching(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.otherLeaderSinceMs.clear();
  }

  private check(): void {
    const now = this.nowMs();
    const leader = this.currentLeader();
    for (const oldLeader of this.waiting.keys()) {
      if (leader === null || leader === oldLeader) {
        this.otherLeaderSinceMs.delete(oldLeader);
        continue;
      }
      const since = this.otherLeaderSinceMs.get(oldLeader) ?? now;
      this.otherLeaderSinceMs.set(oldLeader, since);
      if (now - since < ABANDON_AFTER_MS && !this.silent(oldLeader)) continue;
      this.abandonAll((id) => id === oldLeader, () => new PeerLinkError(
        `node ${oldLeader} stopped leading (node ${leader} leads now) while this write was forwarded to it; outcome unknown`, false, true));
    }
    if (this.waiting.size === 0) this.stopWatching();
  }

  private abandonAll(which: (leaderId: number) => boolean, error: () => Error): void {
    for (const [id, waits] of [...this.waiting]) {
      if (!which(id)) continue;
      for (const abandon of [...waits]) abandon(error());
    }
  }
}
