/**
 * Outstanding one-sided operations: each posted write/read has one callback, called exactly once
 * with its completion. Polling is re-entrancy safe (a callback may post and poll again).
 */
import type { Completion, Fabric, PeerId } from '../binding/fabric';
import { OutstandingOps } from './outstanding-ops';
import type { Scheduler, TimerHandle } from './scheduler';

export type OpCallback = (c: Completion) => void;

/** Completions taken per native poll. */
const POLL_BATCH = 64;

/** Writes in flight into one region name (of any peer). */
export interface RegionCount {
  n: number;
}

/**
 * A completion target that is an object already (the leader's in-flight write): the table keeps it
 * as it is, so an operation costs no allocation here. One outstanding operation per target.
 */
export interface OpTarget {
  complete(c: Completion): void;
  /** Set by the table while the operation is outstanding: the count a write holds (null: a read). */
  regionCount: RegionCount | null;
  /** Set by the table: the peer a write goes to (0: a read). */
  writePeer: number;
}

/** A plain callback as a target. */
class CallbackOp implements OpTarget {
  regionCount: RegionCount | null = null;
  writePeer = 0;
  constructor(private readonly cb: OpCallback) {}
  complete(c: Completion): void {
    this.cb(c);
  }
}

export class OpTable {
  private readonly callbacks = new OutstandingOps();
  private readonly writesByRegion = new Map<string, RegionCount>();
  /** Writes in flight to each peer id (1..255), whatever the region. */
  private readonly writesByPeer = new Int32Array(256);
  /** The region of the last write and its count: a leader writes one region over and over. */
  private lastRegion: string | null = null;
  private lastRegionCount: RegionCount | undefined = undefined;
  private polling = false;
  /** Operations posted so far (drain tells from it whether callbacks posted more). */
  private posts = 0;
  /**
   * While poll runs its afterPoll functions: a poll they ask for (the leader's flush ends with one)
   * is done by the running poll's next round instead of inside them, so a leader that proposes from
   * its commit callbacks loops here rather than nesting one stack level deeper per entry.
   */
  private inAfterPoll = false;
  private pollAgain = false;
  /** Filled only while drain runs (whenPollDone), run and emptied by poll after it. */
  private readonly afterPoll: Array<() => void> = [];
  private armed = false;
  private closed = false;
  /** The back-off timer of an empty wake-up (see arm), while armed on it. */
  private backoff: TimerHandle | null = null;

  /** Wake-ups in a row that found nothing to poll (see arm). */
  private emptyWakeups = 0;
  /**
   * While busy-polling: the time it stops. Reset whenever a poll finds completions, so each burst
   * of work gets one spin window: an operation that stays outstanding for long (a take-over reading
   * whole logs over tcp) must not make every wake-up spin again, which kept a core a third busy
   * for as long as it lasted and starved the heartbeats of the nodes sharing it.
   */
  private spinUntilMs = -1;

  /**
   * `busyPollMs` > 0: after posting, poll from the event loop for up to this long before sleeping
   * in waitCompletions (completions that arrive asynchronously, as on tcp, are seen in microseconds
   * instead of after a wake-up). Must be 0 under simulated time.
   */
  constructor(
    private readonly fabric: Fabric,
    private readonly scheduler: Scheduler,
    private readonly waitMs: number,
    private readonly busyPollMs = 0,
  ) {}

  get outstanding(): number {
    return this.callbacks.size;
  }

  /**
   * Runs `fn` once the poll in progress has dispatched everything (batching: work that callbacks
   * create goes out together); false if no poll is in progress.
   */
  whenPollDone(fn: () => void): boolean {
    if (!this.polling) return false;
    this.afterPoll.push(fn);
    return true;
  }

  /** Writes into `region` (of any peer) not yet completed. */
  writesInFlight(region: string): number {
    return this.writesByRegion.get(region)?.n ?? 0;
  }

  /** Writes to `peer` (any region) not yet completed. */
  writesInFlightTo(peer: PeerId): number {
    return this.writesByPeer[peer];
  }

  /** Writes `data` (or its bytes [dataStart, dataStart + dataLength)) to `peer`'s `region` at `offset`. */
  write(peer: PeerId, region: string, offset: number, data: Buffer, cb: OpCallback | OpTarget, dataStart?: number, dataLength?: number): void {
    const id = this.fabric.postWrite(peer, region, offset, data, dataStart, dataLength);
    let count = region === this.lastRegion ? this.lastRegionCount : this.writesByRegion.get(region);
    if (count === undefined) {
      count = { n: 0 };
      this.writesByRegion.set(region, count);
    }
    this.lastRegion = region;
    this.lastRegionCount = count;
    count.n++;
    this.writesByPeer[peer]++;
    const op = typeof cb === 'function' ? new CallbackOp(cb) : cb;
    op.regionCount = count;
    op.writePeer = peer;
    this.callbacks.add(id, op);
    this.posted();
  }

  read(peer: PeerId, region: string, offset: number, length: number, into: Buffer, cb: OpCallback | OpTarget): void {
    const id = this.fabric.postRead(peer, region, offset, length, into, 0);
    const op = typeof cb === 'function' ? new CallbackOp(cb) : cb;
    op.regionCount = null;
    op.writePeer = 0;
    this.callbacks.add(id, op);
    this.posted();
  }

  /**
   * New work ends an empty wake-up's back-off: the back-off guards against a fabric that signals
   * readiness it does not deliver, not against real completions, and sleeping through it cost a
   * take-over up to waitMs per round trip (prepare, sync, first commit). Posts are real work, so
   * this cannot become a wake-up loop.
   */
  private posted(): void {
    this.posts++;
    if (this.backoff !== null) {
      this.backoff.cancel();
      this.backoff = null;
      this.armed = false;
      this.emptyWakeups = 0;
    }
    this.arm();
  }

  /** Dispatch every completion ready now; returns how many. `rearm`: wait for more afterwards. */
  poll(rearm = true): number {
    if (this.polling || this.closed) return 0;
    if (this.inAfterPoll) {
      this.pollAgain = true;
      return 0;
    }
    let n = 0;
    for (let round = 0; round < 1000; round++) {
      this.polling = true;
      this.pollAgain = false;
      try {
        n += this.drain();
      } finally {
        this.polling = false;
      }
      if (this.afterPoll.length === 0) break;
      // Nothing is queued while these run (whenPollDone only queues during drain, and a poll they
      // ask for is deferred to the next round), so the list is run in place.
      const fns = this.afterPoll;
      this.inAfterPoll = true;
      try {
        for (let k = 0; k < fns.length; k++) fns[k]();
      } finally {
        this.inAfterPoll = false;
        fns.length = 0;
      }
      if (!this.pollAgain) break;
    }
    if (n > 0) this.spinUntilMs = -1;
    if (rearm) this.arm();
    return n;
  }

  private drain(): number {
    let n = 0;
    // Nothing outstanding, nothing to wait for: skipping the poll saves a native call per entry
    // (what a previous OpTable left queued is dropped unread anyway, whenever it is polled).
    for (let round = 0; round < 1_000_000 && this.callbacks.size > 0; round++) {
      const postsBefore = this.posts;
      const batch = this.fabric.pollCompletions(POLL_BATCH);
      if (batch.length === 0) break;
      for (const c of batch) {
        const op = this.callbacks.take(c.wrId);
        if (op === undefined) continue; // posted by a previous OpTable (restart); nothing waits for it
        n++;
        if (op.regionCount !== null) {
          op.regionCount.n--;
          this.writesByPeer[op.writePeer]--;
        }
        op.complete(c);
      }
      // A short batch emptied the queue: only what the callbacks posted since can be ready already
      // (later asynchronous completions wake the next arm), so without new posts there is nothing
      // to ask again for (an empty native poll per drain, per entry on a leader).
      if (batch.length < POLL_BATCH && this.posts === postsBefore) break;
    }
    return n;
  }

  close(): void {
    this.closed = true;
    this.backoff?.cancel();
    this.callbacks.clear();
  }

  private arm(): void {
    if (this.armed || this.closed || this.callbacks.size === 0) return;
    this.armed = true;
    if (this.busyPollMs > 0) {
      const now = this.scheduler.nowMs();
      if (this.spinUntilMs < 0) this.spinUntilMs = now + this.busyPollMs;
      if (now < this.spinUntilMs) {
        this.scheduler.setTimer(0, this.spinWake);
        return;
      }
    }
    // A wake-up that found nothing (a timeout, or a fabric that reports readiness it does not
    // deliver) must not turn into a microtask loop that starves timers: back off on a real timer.
    if (this.emptyWakeups > 0) {
      this.backoff = this.scheduler.setTimer(this.waitMs, this.backoffWake);
    } else {
      this.scheduler.whenCompletions(this.fabric, this.waitMs, this.wake);
    }
  }

  // Made once, not per arm: a leader arms once per entry.
  private readonly wake = (): void => {
    this.armed = false;
    this.emptyWakeups = this.poll(false) > 0 ? 0 : this.emptyWakeups + 1;
    this.arm();
  };

  private readonly backoffWake = (): void => {
    this.backoff = null;
    this.wake();
  };

  private readonly spinWake = (): void => {
    this.armed = false;
    this.poll(false);
    this.arm();
  };
}
