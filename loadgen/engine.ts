/**
 * Drives a set of connections through one phase (preload, warmup or measurement) and counts what
 * came back. Closed loop: each connection keeps `capacity` requests in flight. Open loop
 * (`intervalMs` > 0): each connection has a fixed schedule of intended send times; a request's
 * latency is measured from its intended time, so a server stall delays every request scheduled
 * during it (coordinated-omission correction, as in wrk2), even those the window held back.
 *
 * Invariants: `issued` counts requests handed to a connection; each ends exactly once, as a
 * reply, a timeout or a loss on a broken connection. The phase ends when nothing more may be
 * issued and nothing is in flight.
 */
import { performance } from 'perf_hooks';
import { LoadConnection, ConnectionEvents } from './connection';
import { ErrorCounts, ErrorKind, addError } from './errors';
import { LatencyRecorder } from './recorder';
import type { OpPicker } from './workload';
import { OP_GET, Op } from './wire/requests';
import {
  R_CLIENT_ERROR, R_ERROR, R_EXISTS, R_HIT, R_MISS, R_NOT_FOUND, R_NOT_STORED, R_SERVER_ERROR, R_STORED,
} from './wire/replies';

export interface PhaseSpec {
  picker: OpPicker;
  /** Most requests this phase may issue (Infinity: until the deadline). */
  budget: number;
  /** Closed loop: no request issued after this time. Open loop: none intended at or after it. */
  deadlineMs: number;
  /** Open loop: ms between intended sends on one connection; 0 = closed loop. */
  intervalMs: number;
  recorder: LatencyRecorder | null;
  /** gets-only: a miss means the server lost a key this run stored. */
  missIsError: boolean;
  timeoutMs: number;
}

export interface PhaseStats {
  issued: number;
  replies: number;
  stored: number;
  hits: number;
  misses: number;
  errors: ErrorCounts;
  startMs: number;
  endMs: number;
}

const MAX_RECONNECTS_PER_CONNECTION = 20;
const CLOSED_LOOP_TICK_MS = 50;
const SPIN_BELOW_MS = 1;

function newStats(nowMs: number): PhaseStats {
  return { issued: 0, replies: 0, stored: 0, hits: 0, misses: 0, errors: {}, startMs: nowMs, endMs: nowMs };
}

export class Engine implements ConnectionEvents {
  conns: LoadConnection[] = [];
  stats: PhaseStats = newStats(performance.now());
  private spec: PhaseSpec | null = null;
  private finish: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private timerDueMs = Infinity;
  private reconnecting = 0;
  private shutDown = false;

  constructor(private readonly connectTimeoutMs: number) {}

  runPhase(spec: PhaseSpec): Promise<PhaseStats> {
    const startMs = performance.now();
    this.spec = spec;
    this.stats = newStats(startMs);
    // Staggered so the connections' schedules interleave evenly instead of sending in bursts.
    this.conns.forEach((c, i) => { c.nextIntendedMs = startMs + (spec.intervalMs * i) / this.conns.length; });
    return new Promise((resolve) => {
      this.finish = () => {
        this.cancelTick();
        this.finish = null;
        this.spec = null;
        this.stats.endMs = performance.now();
        resolve(this.stats);
      };
      for (const c of this.conns) this.fill(c, startMs);
      this.tick();
    });
  }

  /** Replies or requests of the current phase so far (for the progress bar). */
  snapshot(): PhaseStats {
    return this.stats;
  }

  onReply(op: number, kind: number, startMs: number, nowMs: number): void {
    const spec = this.spec;
    if (spec === null) return;
    const s = this.stats;
    s.replies++;
    spec.recorder?.recordNs((nowMs - startMs) * 1e6);
    switch (kind) {
      case R_STORED: s.stored++; break;
      case R_HIT: s.hits++; break;
      case R_MISS: s.misses++; if (spec.missIsError) addError(s.errors, 'miss'); break;
      case R_NOT_STORED: addError(s.errors, 'not_stored'); break;
      case R_EXISTS: addError(s.errors, 'exists'); break;
      case R_NOT_FOUND: addError(s.errors, op === OP_GET ? 'miss' : 'not_found'); break;
      case R_SERVER_ERROR: addError(s.errors, 'server_error'); break;
      case R_CLIENT_ERROR: addError(s.errors, 'client_error'); break;
      case R_ERROR: addError(s.errors, 'error'); break;
      default: addError(s.errors, 'unexpected_reply'); break;
    }
  }

  onDrained(conn: LoadConnection): void {
    const spec = this.spec;
    if (spec === null) return;
    const nowMs = performance.now();
    this.fill(conn, nowMs);
    this.maybeFinish();
    if (spec.intervalMs > 0) this.scheduleTick(nowMs);
  }

  onBroken(conn: LoadConnection, reason: string, lostRequests: number): void {
    if (this.spec === null) return;
    const kind: ErrorKind = reason.startsWith('unexpected_reply') ? 'unexpected_reply' : 'connection';
    addError(this.stats.errors, kind, Math.max(1, lostRequests));
    this.reconnect(conn);
  }

  closeAll(): void {
    this.shutDown = true;
    this.cancelTick();
    for (const c of this.conns) c.close();
  }

  private mayIssue(conn: LoadConnection, nowMs: number): boolean {
    const spec = this.spec;
    if (spec === null || this.stats.issued >= spec.budget) return false;
    if (spec.intervalMs === 0) return nowMs < spec.deadlineMs;
    return conn.nextIntendedMs < spec.deadlineMs && conn.nextIntendedMs <= nowMs;
  }

  private fill(conn: LoadConnection, nowMs: number): void {
    const spec = this.spec;
    if (spec === null || !conn.connected) return;
    const picker = spec.picker;
    while (conn.outstanding < conn.capacity && this.mayIssue(conn, nowMs)) {
      picker.pick();
      const startMs = spec.intervalMs === 0 ? nowMs : conn.nextIntendedMs;
      conn.nextIntendedMs += spec.intervalMs;
      conn.enqueue(picker.op as Op, picker.key, startMs);
      this.stats.issued++;
    }
    conn.flush();
  }

  /** True while some request may still be issued in this phase (now or at a later intended time). */
  private moreToIssue(nowMs: number): boolean {
    const spec = this.spec;
    if (spec === null || this.stats.issued >= spec.budget) return false;
    if (spec.intervalMs === 0) return nowMs < spec.deadlineMs && this.conns.some((c) => c.connected);
    return this.conns.some((c) => c.connected && c.nextIntendedMs < spec.deadlineMs);
  }

  private maybeFinish(): void {
    if (this.finish === null) return;
    const nowMs = performance.now();
    if (this.moreToIssue(nowMs) || this.reconnecting > 0) return;
    if (this.conns.some((c) => c.outstanding > 0)) return;
    this.finish();
  }

  /** Open-loop sends, timeouts, the deadline and the end of the phase are all checked here. */
  private tick(): void {
    const spec = this.spec;
    if (spec === null) return;
    const nowMs = performance.now();
    for (const c of this.conns) {
      if (c.outstanding > 0 && nowMs - c.oldestSentMs() > spec.timeoutMs) {
        addError(this.stats.errors, 'timeout', c.outstanding);
        c.close();
        this.reconnect(c);
      }
    }
    if (spec.intervalMs > 0) for (const c of this.conns) this.fill(c, nowMs);
    this.maybeFinish();
    this.scheduleTick(nowMs);
  }

  /**
   * Arms the timer for the earliest of: the next intended send of a connection with room
   * (open loop), the deadline (closed loop), the periodic timeout check. Called after every
   * tick and, in open loop, after replies free room: a connection whose window was full has a
   * due time the pending timer did not account for.
   */
  private scheduleTick(nowMs: number): void {
    const spec = this.spec;
    if (spec === null || this.finish === null) return;
    let waitMs = CLOSED_LOOP_TICK_MS;
    if (spec.intervalMs > 0) {
      let nextDue = Infinity;
      for (const c of this.conns) if (c.connected && c.outstanding < c.capacity) nextDue = Math.min(nextDue, c.nextIntendedMs);
      waitMs = Math.min(waitMs, Math.max(0, nextDue - nowMs));
    } else if (spec.deadlineMs > nowMs) {
      waitMs = Math.min(waitMs, spec.deadlineMs - nowMs);
    }
    const dueMs = nowMs + waitMs;
    if (this.timer !== null || this.immediate !== null) {
      if (this.timerDueMs <= dueMs) return;
      this.cancelTick();
    }
    this.timerDueMs = dueMs;
    // setTimeout sleeps whole milliseconds and wakes late; an open-loop send due within the
    // next millisecond instead polls the event loop (I/O included) until it is due, so the
    // schedule, not the timer's granularity, decides when requests leave.
    if (spec.intervalMs > 0 && waitMs < SPIN_BELOW_MS) this.immediate = setImmediate(() => { this.immediate = null; this.tick(); });
    else this.timer = setTimeout(() => { this.timer = null; this.tick(); }, Math.floor(waitMs));
  }

  private cancelTick(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private reconnect(conn: LoadConnection): void {
    if (this.shutDown || conn.reconnects >= MAX_RECONNECTS_PER_CONNECTION) return; // left closed: the phase ends without it
    conn.reconnects++;
    this.reconnecting++;
    const retryAfterMs = 20;
    setTimeout(() => {
      if (this.shutDown) { this.reconnecting--; return; }
      conn.connect(this.connectTimeoutMs).then(
        () => {
          this.reconnecting--;
          if (this.shutDown) { conn.close(); return; }
          const nowMs = performance.now();
          this.fill(conn, nowMs);
          this.maybeFinish();
          this.scheduleTick(nowMs);
        },
        () => {
          this.reconnecting--;
          if (this.spec !== null) addError(this.stats.errors, 'connection');
          this.reconnect(conn);
          this.maybeFinish();
        },
      );
    }, retryAfterMs);
  }
}
