/**
 * Writes waiting for a leader (mid-election, or while this node's term is suspended), released in
 * the order they arrived once one is known. Each write polling on its own timer was released in
 * timer order instead: a write whose client had given up (outcome unknown) could then be decided
 * after a later client's write to the same key, overwriting an acknowledged value with an older one
 * (legal for an unknown outcome, and a surprise for anyone reading the key).
 *
 * Invariant: `release` callbacks run in arrival order, all in one turn (a timer's, or the leader
 * change's that `poke` runs in), so the continuations that decide or forward the writes run in that
 * order too (promise reactions run FIFO). The poll is a fallback: `poke` releases them at once.
 */
export class LeaderWait {
  private readonly waiting: Array<{ deadlineMs: number; release: () => void }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** Whether a leader is known now (this node, taking writes, or a peer to forward to). */
    private readonly leaderKnown: () => boolean,
    private readonly pollMs = 2,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Writes waiting now. */
  get size(): number {
    return this.waiting.length;
  }

  /**
   * Resolves once a leader is known (with every write that waited before, first), or once
   * `deadlineMs` passed: the caller looks again and decides which.
   */
  next(deadlineMs: number): Promise<void> {
    return new Promise((release) => {
      this.waiting.push({ deadlineMs, release });
      this.arm();
    });
  }

  /** The leader may have changed (MuNode onLeaderChange): release the waiting writes now if one is known. */
  poke(): void {
    if (this.waiting.length === 0 || !this.leaderKnown()) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.tick();
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.tick(), this.pollMs);
  }

  private tick(): void {
    this.timer = null;
    if (this.leaderKnown()) {
      for (const w of this.waiting.splice(0)) w.release();
      return;
    }
    const now = this.nowMs();
    const due = this.waiting.filter((w) => w.deadlineMs <= now);
    if (due.length > 0) {
      const still = this.waiting.filter((w) => w.deadlineMs > now);
      this.waiting.length = 0;
      this.waiting.push(...still);
      for (const w of due) w.release();
    }
    if (this.waiting.length > 0) this.arm();
  }
}
