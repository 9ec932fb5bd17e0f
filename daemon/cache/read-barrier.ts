/**
 * Linearizable reads (`--reads linearizable`): a read waits until this node has applied every
 * entry committed before the read arrived, then reads its own copy (ReadIndex, as Raft's reads do):
 * - a fence (an entry that changes nothing) is committed through the leader; its commit proves who
 *   leads, and every write acknowledged before the read began sits at a lower index;
 * - the node waits until its pump applied the fence's index.
 * A leader cut off from its followers cannot commit the fence, so it cannot answer from a stale copy.
 *
 * Reads that arrive in one turn of the event loop share one fence, started after that turn (so
 * after each of them arrived: a fence started earlier could commit before a later read began and
 * miss a write acknowledged in between). Each wait is bounded by the write deadline.
 */

import { withDeadline } from './deadline';

/** What the barrier needs of the replicated engine. */
export interface ReadIndexSource {
  /** Commits a fence through whoever leads (here if we do); resolves with its index. */
  fence(deadlineMs: number): Promise<number>;
  /** Resolves once this node applied `index`. */
  whenApplied(index: number): Promise<void>;
}

/** No leader confirmed the read in time: nothing was read. */
export class ReadUnconfirmedError extends Error {
  readonly code = 'ReadUnconfirmed';
  constructor(waitedMs: number, why: string) {
    super(`no leader confirmed this read within ${waitedMs} ms (${why}); nothing read`);
  }
}

/** Pause between fence attempts while the lead changes. */
const RETRY_MS = 2;

export class ReadIndexBarrier {
  private next: Promise<void> | null = null;
  /** Fences started, and reads that waited on one (stats). */
  fences = 0;
  reads = 0;

  constructor(
    private readonly source: ReadIndexSource,
    private readonly waitMs: number,
    private readonly afterTurn: (fn: () => void) => void = (fn) => { setImmediate(fn); },
  ) {}

  /** Resolves when a read that arrives now may read this node's copy; rejects with ReadUnconfirmedError. */
  wait(): Promise<void> {
    this.reads++;
    if (this.next === null) {
      const deadlineMs = Date.now() + this.waitMs;
      this.next = new Promise((resolve, reject) => {
        this.afterTurn(() => {
          // Reads from now on wait for the next fence: this one may be committed before they began.
          this.next = null;
          this.fences++;
          this.confirm(deadlineMs).then(resolve, reject);
        });
      });
    }
    return this.next;
  }

  private async confirm(deadlineMs: number): Promise<void> {
    let why = 'no attempt';
    // Bounded by the deadline and, should the clock stall, by a count.
    for (let attempt = 0; attempt < 1 + this.waitMs / RETRY_MS && Date.now() < deadlineMs; attempt++) {
      let index: number;
      try {
        index = await withDeadline(this.source.fence(deadlineMs), deadlineMs, deadlinePassed);
      } catch (err) {
        why = (err as Error).message;
        await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      try {
        await withDeadline(this.source.whenApplied(index), deadlineMs, deadlinePassed);
        return;
      } catch {
        throw new ReadUnconfirmedError(this.waitMs, `fence at index ${index} not applied here in time`);
      }
    }
    throw new ReadUnconfirmedError(this.waitMs, why);
  }
}

const deadlinePassed = (): Error => new Error('deadline passed');
