/**
 * The replication plane of one leadership term (one proposal number). Prepare is done (takeover.ts);
 * while this term's permissions hold, every entry costs one write round: the slot is written into the
 * leader's own log, then into each follower's log by one-sided writes, and it is committed once a
 * majority (the leader included) holds it under this proposal number.
 *
 * Invariants:
 * - Index i is written to follower f only if i - slotCount <= f's applied index (never overwrite a
 *   slot a follower has not applied) and is overwritten in our own ring only after we applied it
 *   and no write of the old slot is still in flight.
 * - f's ackedIndex: every index <= it is on f under this proposal, or already applied by f.
 * - A commit marker goes to f only under this proposal, so f applies only slots we wrote there.
 * - Ring hold: no entry is taken into our log while it would overwrite, in a streaming follower's
 *   ring, a slot that follower has not applied, for at most ringHoldMs per episode (the episode ends
 *   once it is back within half a ring). A follower on a hiccup (descheduled, a GC pause) catches up
 *   instead of falling out of the ring into a state transfer; a dead or lastingly slower one stalls
 *   the term at most ringHoldMs, then falls out as before (every wait is for a majority, bounded).
 * - Vouching: a follower that restarted empty after our prepare began, and then granted us its log,
 *   may have promised a higher proposal before its restart and forgotten it, so its grant says
 *   nothing about whether this term is still current (simulation seed 55906: a leader cut off and
 *   suspended resumed with such a follower alone and committed at an index its successor had
 *   decided). Its acks count toward commits only once the term committed an index written after
 *   that follower was synced without them: the followers that did count then held our grant all
 *   along, so nobody had prepared a higher proposal with a majority. A term that cannot do that
 *   commits nothing more (its writes wait, bounded by the application, as without a majority),
 *   until every other member has been seen restarted since our prepare or took a write of ours
 *   posted after that follower's sync (vouchIfRestartsExplained).
 */
import type { Completion, PeerId } from '../binding/fabric';
import type { MuConfig } from './config';
import { invariant, LostLeadershipError } from './errors';
import {
  encodeCommitMarker, encodeMinProposal, H_COMMIT_MARKER, H_MIN_PROPOSAL, H_SYNC_MARKER, LOG_REGION, maxEntryBytes, partChunkBytes,
  readControl, readPartHeader, readSlot, slotOffset, slotsForEntry, SLOT_HEADER_BYTES, SLOT_KIND_ENTRY, SLOT_KIND_NOOP, SLOT_KIND_PART,
  CTL_BYTES, CTL_REGION, writePartSlot, writeSlot, ControlWords, viewOf, logFormatMismatch,
} from './layout';
import type { MuLogger } from './logger';
import type { OpTable, OpTarget, RegionCount } from './ops';
import type { ReadingPump } from './pump';
import type { Scheduler, TimerHandle } from './scheduler';

/**
 * Removes and returns the first item. pop when it is the only one (the usual case on the per-entry
 * path): shift is a runtime call, pop is inlined.
 */
function takeFirst<T>(items: T[]): T | undefined {
  return items.length === 1 ? items.pop() : items.shift();
}

/**
 * How often the applied index of a follower held for is read again while the hold lasts. A real
 * sleep, not a spin: the follower being waited for may need this very core to catch up.
 */
const RING_HOLD_POLL_MS = 1;

/** How long a follower whose log is in another format stays detached before it is looked at again. */
const FORMAT_RECHECK_MS = 1000;

export type ProposeCallback = (err: Error | null, index: number, proposal: number) => void;

export interface LeaderHost {
  readonly selfId: PeerId;
  readonly cfg: MuConfig;
  readonly log: Buffer;
  readonly ops: OpTable;
  readonly scheduler: Scheduler;
  readonly logger: MuLogger;
  readonly pump: ReadingPump;
  readonly majority: number;
  /** `peer` answered our latest permission request with a grant (not an older, revoked one). */
  holdsGrant(peer: PeerId): boolean;
  /** The incarnation `peer` last published (null: none read yet). */
  peerIncarnation(peer: PeerId): number | null;
  /** `peer` is alive in our failure detector's view. */
  peerAlive(peer: PeerId): boolean;
  /** The term cannot go on (permission lost): the node becomes a follower. */
  stepDown(reason: string): void;
  /** Our applied index changed: republish the control region. */
  appliedChanged(): void;
  /** `peer` needs entries our ring no longer holds. */
  sendSnapshot(peer: PeerId): void;
}

type FollowerState = 'ungranted' | 'syncing' | 'streaming' | 'snapshot' | 'detached';

export interface FollowerProgress {
  peer: PeerId;
  state: FollowerState;
  /** Every index up to this is on the follower under this term's proposal (or applied there). */
  ackedIndex: number;
  /** The follower's applied index as last read from its control region. */
  appliedIndex: number;
  /** Times new entries were held for it (ring hold), and times it was given up on after ringHoldMs. */
  ringHolds: number;
  ringHoldsWaived: number;
  /** Its acks count toward commits (false: restarted since our prepare and not vouched for yet). */
  countsTowardCommits: boolean;
}

/** One write of slots start..end to a follower; it is its own completion target (no closure per write). */
class InflightWrite implements OpTarget {
  ok: boolean | null = null;
  regionCount: RegionCount | null = null;
  writePeer = 0;
  constructor(
    private readonly term: LeaderTerm,
    private readonly follower: Follower,
    readonly start: number,
    readonly end: number,
    readonly epoch: number,
  ) {}

  complete(c: Completion): void {
    this.term.writeDone(this.follower, this, c);
  }
}

/** A proposal: queued until written into our log, then waiting (at `index`, its last) for the commit point. */
interface Proposal {
  payload: Buffer;
  cb: ProposeCallback;
  kind: number;
  index: number;
}

interface Follower {
  peer: PeerId;
  state: FollowerState;
  epoch: number;
  nextIndex: number;
  ackedIndex: number;
  appliedKnown: number;
  inflight: InflightWrite[];
  lastSentCommit: number;
  markerInFlight: boolean;
  ctlReadInFlight: boolean;
  ctlBuf: Buffer;
  snapshotAskedAtMs: number;
  /**
   * Our applied index when we asked for its snapshot: the snapshot reflects at least that much, and
   * the follower cannot reach it from its log (it fell out below our ring, which we only reuse
   * behind our applied index), so reaching it means the snapshot arrived.
   */
  snapshotAskedAtIndex: number;
  /** Its incarnation when it last showed us as its permission holder (null: not seen yet). */
  grantedIncarnation: number | null;
  /** The incarnation it restarted as, while we wait for it to grant us again (null: none). */
  restartedAs: number | null;
  /** Time held for it in the current ring-hold episode (see ringHeld), and when last counted (-1: no episode). */
  heldMs: number;
  holdCountedAtMs: number;
  /** When its log was last found in another format (sync is not tried again for a while: -Infinity). */
  formatRefusedAtMs: number;
  /** Held for ringHoldMs without catching up: not held for again until it streams anew. */
  holdWaived: boolean;
  ringHolds: number;
  ringHoldsWaived: number;
  /** When a commit-marker write (published or probe) to it last completed (-Infinity: never in this term). */
  markerLandedAtMs: number;
  /**
   * 0: its acks count toward commits. Else it was synced restarted empty after our prepare began,
   * and its acks count once this term commits this index without them (see Vouching, top of file).
   */
  proofIndex: number;
  /** The incarnation it was vouched for in (null: none). While proofIndex waits, syncedIncarnation is the one it waits in. */
  vouchedIncarnation: number | null;
  /** When it last completed a sync round of ours (-Infinity: never in this term). */
  syncedAtMs: number;
  /** The incarnation our last sync found it in, or else the one we knew at our prepare (null: neither). */
  syncedIncarnation: number | null;
  /** Our grant there still held when a write posted at this time landed (-Infinity: none seen since it was last detached). */
  grantHeldAtMs: number;
}

export class LeaderTerm {
  private stopped = false;
  private suspendedNow = false;
  private myEnd: number;
  private commit: number;
  private readonly base: number;
  private readonly followers = new Map<PeerId, Follower>();
  /** The same followers as an array: the per-entry loops iterate it without an iterator object. */
  private readonly followerList: Follower[] = [];
  private readonly queue: Proposal[] = [];
  /** Proposals written, in index order, waiting for the commit point to pass them. */
  private readonly waiting: Proposal[] = [];
  private flushScheduled = false;
  private publishTimer: TimerHandle | null = null;
  private probeTimer: TimerHandle | null = null;
  /** While a ring hold lasts: the next read of the held followers' applied indices. */
  private holdTimer: TimerHandle | null = null;
  private readonly S: number;
  private readonly acksScratch: Float64Array;
  /** viewOf(host.log): slot headers are written and read through it on every entry. */
  private readonly logView: DataView;
  /** host.cfg, one load nearer (every use in this class reads it here). */
  private readonly cfg: MuConfig;

  /**
   * `incarnationsAtPrepare`: each peer's incarnation as this node knew it when its prepare began. A
   * follower synced in another one restarted since (see Vouching).
   */
  constructor(
    private readonly host: LeaderHost, readonly proposal: number, base: number, adopted: Array<{ index: number; kind: number; payload: Buffer }>, peers: PeerId[],
    private readonly incarnationsAtPrepare: ReadonlyMap<PeerId, number> = new Map(),
  ) {
    this.S = host.cfg.slotCount;
    this.acksScratch = new Float64Array(peers.length + 1);
    this.logView = viewOf(host.log);
    this.cfg = host.cfg;
    this.base = base;
    this.commit = base;
    this.myEnd = base;
    for (const e of adopted) {
      invariant(e.index === this.myEnd + 1, `adopted entries contiguous (${e.index} after ${this.myEnd})`);
      this.writeOwn(e.index, e.kind, e.payload);
    }
    const last = adopted.length > 0 ? adopted[adopted.length - 1] : null;
    if (last !== null && last.kind === SLOT_KIND_PART) {
      const p = readPartHeader(last.payload, 0);
      if (p.partNo + 1 < p.partCount) {
        // The log ends inside a multi-slot entry whose later parts nobody in our majority holds, so
        // it was never committed. A no-op right after it settles it as abandoned (layout.ts); without
        // it, the entry would stall every node's pump until later entries happened to cover its span.
        this.queue.push({ payload: Buffer.alloc(0), cb: () => undefined, kind: SLOT_KIND_NOOP, index: 0 });
      }
    }
    for (const peer of peers) {
      const f: Follower = {
        peer, state: 'ungranted', epoch: 0, nextIndex: 0, ackedIndex: 0, appliedKnown: 0, inflight: [], lastSentCommit: 0,
        markerInFlight: false, ctlReadInFlight: false, ctlBuf: Buffer.alloc(CTL_BYTES), snapshotAskedAtMs: -Infinity,
        snapshotAskedAtIndex: Infinity, grantedIncarnation: null, restartedAs: null, heldMs: 0, holdCountedAtMs: -1, holdWaived: false, formatRefusedAtMs: -Infinity,
        ringHolds: 0, ringHoldsWaived: 0, markerLandedAtMs: -Infinity, proofIndex: 0, vouchedIncarnation: null,
        syncedAtMs: -Infinity, syncedIncarnation: incarnationsAtPrepare.get(peer) ?? null, grantHeldAtMs: -Infinity,
      };
      this.followers.set(peer, f);
      this.followerList.push(f);
    }
    this.scheduleProbe();
    if (this.queue.length > 0) this.kick();
  }

  /**
   * An idle leader still writes its commit marker to every follower now and then: a follower that
   * revoked our permission refuses it, so a leader that slept through its deposition finds out
   * without waiting for a client.
   */
  private scheduleProbe(): void {
    this.probeTimer = this.host.scheduler.setTimer(this.cfg.scanIntervalMs * 4, () => {
      if (this.stopped) return;
      this.publishCommit(true);
      this.scheduleProbe();
    });
  }

  get commitIndex(): number {
    return this.commit;
  }

  /** Each follower's state in this term, what it holds of our log and what it applied (for stats). */
  followerProgress(): FollowerProgress[] {
    return [...this.followers.values()].map((f) => ({
      peer: f.peer, state: f.state, ackedIndex: f.ackedIndex, appliedIndex: f.appliedKnown, ringHolds: f.ringHolds, ringHoldsWaived: f.ringHoldsWaived,
      countsTowardCommits: this.countsTowardCommits(f.peer),
    }));
  }

  /**
   * Whether a write of this term landed in `peer`'s log within the last `withinMs`. Told by the
   * commit markers, which the idle probe sends every few scans: off the per-entry path.
   */
  wroteWithin(peer: PeerId, withinMs: number): boolean {
    const f = this.followers.get(peer);
    return f !== undefined && this.host.scheduler.nowMs() - f.markerLandedAtMs <= withinMs;
  }

  get lastIndex(): number {
    return this.myEnd;
  }

  get maxPayloadBytes(): number {
    return maxEntryBytes(this.cfg.slotCount, this.cfg.slotBytes);
  }

  /** Entries taken (queued or written) and not yet committed. */
  get undecided(): number {
    return this.queue.length + (this.myEnd - this.commit);
  }

  /** No majority reachable (node.ts checkQuorum): nothing new is taken until resume(). */
  get suspended(): boolean {
    return this.suspendedNow;
  }

  /**
   * What this term holds undecided fails with LostLeadership (it stays in the log: should a majority
   * come back into this term, it commits, and the pump tells its fate), and proposals are refused
   * until resume(). Writes, syncs and probes go on, so returning followers rejoin the term. A no-op
   * queued to settle an abandoned entry in parts stays queued: it is the term's, not a client's.
   */
  suspend(reason: string): void {
    if (this.stopped || this.suspendedNow) return;
    this.suspendedNow = true;
    this.failUndecided(reason);
  }

  resume(): void {
    this.suspendedNow = false;
  }

  propose(payload: Buffer, cb: ProposeCallback): void {
    if (this.stopped) {
      cb(new LostLeadershipError('term over'), 0, this.proposal);
      return;
    }
    if (payload.length > this.maxPayloadBytes) invariant(false, `entry of ${payload.length} bytes over ${this.maxPayloadBytes}`);
    this.queue.push({ payload, cb, kind: SLOT_KIND_ENTRY, index: 0 });
    this.kick();
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Flush at the end of this turn: everything proposed in the turn goes out in one batch. */
  private kick(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    // Inside a completion poll, callbacks may propose more: flush once they all ran.
    if (!this.host.ops.whenPollDone(this.scheduledFlush)) this.host.scheduler.defer(this.scheduledFlush);
  }

  /** `peer` granted us permission on its log: bring it up to date, then stream to it. */
  granted(peer: PeerId): void {
    const f = this.followers.get(peer);
    if (f === undefined || this.stopped || (f.state !== 'ungranted' && f.state !== 'detached')) return;
    this.sync(f);
  }

  /**
   * `peer` granted us permission and took part in our prepare: its minProposal holds our proposal
   * (written under the permission we still hold: had it moved, our writes would fail) and it was
   * not amnesic, so the sync round (read and write minProposal, write the sync marker, read its
   * control words) would learn nothing new. Stream to it from the applied index prepare read (a
   * lower bound: rewriting slots it applied writes the same decided values).
   */
  grantedAndPrepared(peer: PeerId, appliedIndex: number): void {
    const f = this.followers.get(peer);
    if (f === undefined || this.stopped || f.state !== 'ungranted') return;
    f.epoch++;
    f.lastSentCommit = 0;
    f.holdWaived = false;
    f.holdCountedAtMs = -1;
    invariant(appliedIndex <= this.myEnd, `follower ${peer} applied ${appliedIndex} beyond leader's log end ${this.myEnd}`);
    f.appliedKnown = appliedIndex;
    f.ackedIndex = Math.max(f.ackedIndex, appliedIndex);
    f.nextIndex = appliedIndex + 1;
    f.proofIndex = 0; // it promised us in prepare
    f.syncedIncarnation = this.incarnationsAtPrepare.get(peer) ?? null;
    f.state = 'streaming';
    this.host.logger.info(`follower ${peer} caught up from index ${f.nextIndex} (prepared)`);
    this.stream(f);
  }

  /** `peer` follows this term and holds everything committed (a hand-over to it loses no time). */
  caughtUp(peer: PeerId): boolean {
    const f = this.followers.get(peer);
    return f !== undefined && f.state === 'streaming' && f.ackedIndex >= this.commit && f.appliedKnown + this.S / 2 >= this.commit;
  }

  /**
   * `peer` revoked our grant and we ask again (node.ts): nothing more goes there until it grants the
   * new request, so no write of ours lands after that grant under what we knew before it.
   */
  grantRevoked(peer: PeerId): void {
    const f = this.followers.get(peer);
    if (f === undefined || this.stopped || f.state === 'ungranted' || f.state === 'detached') return;
    this.detach(f, 'revoked our grant: detached until it grants us again');
  }

  isGranted(peer: PeerId): boolean {
    const f = this.followers.get(peer);
    return f !== undefined && f.state !== 'ungranted';
  }

  /** Control words of a peer, from the background scan. */
  peerControl(peer: PeerId, ctl: ControlWords): void {
    const f = this.followers.get(peer);
    if (f === undefined || this.stopped) return;
    const self = this.host.selfId;
    if (f.grantedIncarnation !== null && ctl.incarnation !== f.grantedIncarnation && ctl.incarnation !== f.restartedAs && f.state !== 'ungranted') {
      // It restarted empty: our grant and everything we wrote there died with the old process, and
      // nobody took the grant from us. The other followers carry the term; this one is synced again
      // (then sent a snapshot) once it grants us, as it grants the lowest id alive. Its acks are
      // void: counting them would commit entries it no longer holds.
      f.restartedAs = ctl.incarnation;
      this.detach(f, 'restarted: detached until it grants us its log again');
      f.ackedIndex = 0;
      f.appliedKnown = 0;
    }
    if (ctl.permissionHolder === self) {
      f.grantedIncarnation = ctl.incarnation;
      f.restartedAs = null;
    }
    // Not just any progress: a follower that fell out still applies what its log held, and taking
    // that for the snapshot sent it a second whole snapshot while the first was on its way.
    const snapshotArrived = ctl.appliedIndex >= f.snapshotAskedAtIndex;
    this.learnApplied(f, ctl.appliedIndex);
    if (f.state === 'snapshot') {
      if (ctl.appliedIndex + 1 > this.myEnd - this.S) this.sync(f);
      else if (snapshotArrived || this.host.scheduler.nowMs() - f.snapshotAskedAtMs > this.cfg.scanIntervalMs * 50) this.askSnapshot(f);
    } else if (f.state === 'detached' && ctl.permissionHolder === self) {
      this.sync(f);
    }
    if (f.state === 'ungranted' || f.state === 'syncing' || ctl.permissionHolder === self) return;
    // The fabric made its grant to us as the old leader died (armed-grant.ts), ahead of its own
    // thread, which publishes the new holder only when it next runs: until then its words name that
    // leader, dead in our view, while its grant to us still stands in our mailbox.
    if (ctl.permissionHolder !== 0 && !this.host.peerAlive(ctl.permissionHolder) && this.host.holdsGrant(f.peer)) return;
    if (ctl.amnesic) {
      // Restarted empty and not synced since: whoever it granted, its grant counts in nobody's
      // prepare, so no rival takes over with it (a restarted node may grant a follower it saw alive
      // before us, or follow a flapping detector; it grants us again once it sees us lead). Nothing
      // more is written there until then. Ending the term instead could leave a group whose
      // majority restarted empty with no voter majority, ever.
      if (f.state !== 'detached') this.detach(f, 'granted its log to another node before it was synced: detached until it grants us again');
      return;
    }
    // A restarted follower that has granted nobody yet is no rival's either.
    if (f.state === 'detached' && f.restartedAs === ctl.incarnation && ctl.permissionHolder === 0) return;
    // It granted someone else, or took its log back to stand itself: another node is taking over,
    // so the skip-prepare shortcut is over. A new candidacy prepares again.
    this.host.stepDown(`follower ${f.peer} no longer grants us its log`);
  }

  /**
   * The term ends: every proposal not yet committed fails with LostLeadership. One the commit point
   * passed is decided whatever happens next, so it succeeds (a callback that ended the term while
   * the commit's callbacks ran would otherwise leave the rest unanswered or wrongly failed).
   */
  stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.publishTimer?.cancel();
    this.probeTimer?.cancel();
    this.holdTimer?.cancel();
    this.failUndecided(reason);
  }

  /**
   * Answers every client proposal not yet committed with LostLeadership (naming its index if it was
   * written), and one the commit point passed with success. A no-op the term queued itself (to
   * settle an abandoned entry in parts) has no client and stays queued.
   */
  private failUndecided(reason: string): void {
    for (const w of this.waiting.splice(0)) {
      if (w.index <= this.commit) w.cb(null, w.index, this.proposal);
      else w.cb(new LostLeadershipError(reason, w.index), w.index, this.proposal);
    }
    const unwritten = new LostLeadershipError(reason, 0);
    for (const q of this.queue.splice(0)) {
      if (q.kind === SLOT_KIND_NOOP) this.queue.push(q);
      else q.cb(unwritten, 0, this.proposal);
    }
  }

  flush(): void {
    if (this.stopped) return;
    while (this.queue.length > 0) {
      const q = this.queue[0];
      const slots = q.kind === SLOT_KIND_ENTRY ? slotsForEntry(q.payload.length, this.cfg.slotBytes) : 1;
      if (!this.canOverwriteRange(this.myEnd + 1, this.myEnd + slots)) break;
      if (this.ringHeld(this.myEnd + slots)) break;
      takeFirst(this.queue);
      if (slots === 1) this.writeOwn(this.myEnd + 1, q.kind, q.payload);
      else this.writeOwnParts(q.payload, slots);
      q.index = this.myEnd;
      this.waiting.push(q);
    }
    for (let k = 0; k < this.followerList.length; k++) this.stream(this.followerList[k]);
    this.advanceCommit();
    this.host.ops.poll();
  }

  private writeOwn(index: number, kind: number, payload: Buffer): void {
    const { slotCount, slotBytes } = this.cfg;
    writeSlot(this.host.log, slotOffset(index, slotCount, slotBytes), { proposal: this.proposal, index, commitIndex: this.commit, kind, payload }, this.logView);
    this.myEnd = index;
  }

  /** An entry larger than a slot: one part per slot, each carrying the entry's identity (layout.ts). */
  private writeOwnParts(payload: Buffer, partCount: number): void {
    const { slotCount, slotBytes } = this.cfg;
    const chunkBytes = partChunkBytes(slotBytes);
    const entryStart = this.myEnd + 1;
    for (let partNo = 0; partNo < partCount; partNo++) {
      const index = entryStart + partNo;
      const chunk = payload.subarray(partNo * chunkBytes, Math.min(payload.length, (partNo + 1) * chunkBytes));
      writePartSlot(this.host.log, slotOffset(index, slotCount, slotBytes), {
        proposal: this.proposal, index, commitIndex: this.commit, part: { entryStart, entryProposal: this.proposal, partNo, partCount }, chunk,
      }, this.logView);
      this.myEnd = index;
    }
  }

  /** Our own ring slots for indices first..last may take new entries. */
  private canOverwriteRange(first: number, last: number): boolean {
    const newestOld = last - this.S;
    if (newestOld < 1) return true;
    if (newestOld > this.host.pump.appliedIndex) return false;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      for (const w of f.inflight) if (w.ok === null && w.start <= newestOld && first - this.S <= w.end) return false;
    }
    return true;
  }

  /**
   * Whether taking entries up to `lastIndex` waits for a follower that has not applied the slots
   * they would overwrite in its ring (the ring hold, see the top of this file). Starts, ends and
   * gives up episodes; while one lasts, the held followers' applied indices are read again every
   * RING_HOLD_POLL_MS. The time held is counted in steps of at most twice that: a stall of this
   * process (or of the whole host) is not the follower being slow, as the failure detector counts
   * scans, not time, for the same reason.
   */
  private ringHeld(lastIndex: number): boolean {
    const holdMs = this.cfg.ringHoldMs;
    if (holdMs <= 0 || lastIndex <= this.S) return false;
    let held = false;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      if (f.holdCountedAtMs >= 0 && (f.state !== 'streaming' || f.appliedKnown + this.S / 2 >= this.myEnd)) f.holdCountedAtMs = -1;
      if (f.state !== 'streaming' || f.holdWaived || lastIndex - this.S <= f.appliedKnown) continue;
      const nowMs = this.host.scheduler.nowMs();
      if (f.holdCountedAtMs < 0) {
        f.heldMs = 0;
        f.ringHolds++;
      } else {
        f.heldMs += Math.min(nowMs - f.holdCountedAtMs, 2 * RING_HOLD_POLL_MS);
      }
      f.holdCountedAtMs = nowMs;
      if (f.heldMs >= holdMs) {
        f.holdCountedAtMs = -1;
        f.holdWaived = true;
        f.ringHoldsWaived++;
        this.host.logger.info(`follower ${f.peer} still ${this.myEnd - f.appliedKnown} entries behind after ${holdMs} ms of holding new entries for it: going on without it`);
        continue;
      }
      held = true;
    }
    if (held && this.holdTimer === null) {
      this.holdTimer = this.host.scheduler.setTimer(RING_HOLD_POLL_MS, () => {
        this.holdTimer = null;
        if (this.stopped) return;
        for (let k = 0; k < this.followerList.length; k++) {
          const f = this.followerList[k];
          if (f.holdCountedAtMs >= 0) this.refreshApplied(f);
        }
        // A read that finds progress kicks the flush itself (learnApplied); this one times the hold.
        this.kick();
      });
    }
    return held;
  }

  private sync(f: Follower): void {
    // A member running another log format is asked again now and then (it may have been restarted
    // on our version), not on every scan that sees it grant us its log.
    if (this.host.scheduler.nowMs() - f.formatRefusedAtMs < FORMAT_RECHECK_MS) return;
    // Only under a grant we know of: control words read before it revoked the last one still name
    // us, and writes started on them could land after it granted our next request.
    if (!this.host.holdsGrant(f.peer)) return;
    f.state = 'syncing';
    f.holdWaived = false;
    f.holdCountedAtMs = -1;
    f.epoch++;
    f.lastSentCommit = 0; // what reached it before may be gone (snapshot, detach): publish again
    const epoch = f.epoch;
    let pending = 3;
    /** Our log end in the sync marker written there. */
    let syncedUpTo = 0;
    // Its log's format and geometry, then its minProposal (at H_MIN_PROPOSAL).
    const header = Buffer.alloc(H_MIN_PROPOSAL + 8);
    const promised = () => header.readDoubleLE(H_MIN_PROPOSAL);
    const done = () => {
      if (--pending > 0 || this.stopped || f.epoch !== epoch) return;
      if (promised() > this.proposal) {
        // Another leader prepared this follower after our prepare (its grant to us came late):
        // our proposal number is stale, so nothing of this term may be written there.
        this.host.stepDown(`follower ${f.peer} promised a higher proposal (${promised()} > ${this.proposal})`);
        return;
      }
      const ctl = readControl(f.ctlBuf);
      if (ctl === null) {
        f.state = 'detached';
        return;
      }
      if (ctl.permissionHolder === this.host.selfId) f.grantedIncarnation = ctl.incarnation;
      // Fresh values, not the maximum seen: a follower that restarted empty starts over.
      f.appliedKnown = ctl.appliedIndex;
      invariant(f.appliedKnown <= this.myEnd, `follower ${f.peer} applied ${f.appliedKnown} beyond leader's log end ${this.myEnd}`);
      f.ackedIndex = Math.max(f.ackedIndex, f.appliedKnown);
      f.nextIndex = f.appliedKnown + 1;
      // Once vouched for in this incarnation it stays so (a snapshot round re-syncs it). It counts
      // once the term commits past the sync marker: an index written after the marker, so after its
      // restart, and the very commit point that makes it a voter again (node.ts runPump).
      const restartedSincePrepare = ctl.amnesic && ctl.incarnation !== this.incarnationsAtPrepare.get(f.peer) && ctl.incarnation !== f.vouchedIncarnation;
      f.proofIndex = restartedSincePrepare ? syncedUpTo + 1 : 0;
      f.syncedAtMs = this.host.scheduler.nowMs();
      f.syncedIncarnation = ctl.incarnation;
      // An amnesic follower votes again once it sees this term commit past its sync marker (node.ts
      // runPump): a no-op makes that happen without waiting for a client's write.
      if (ctl.amnesic) {
        this.queue.push({ payload: Buffer.alloc(0), cb: () => undefined, kind: SLOT_KIND_NOOP, index: 0 });
        this.kick();
      }
      f.state = 'streaming';
      this.host.logger.info(`follower ${f.peer} caught up from index ${f.nextIndex}${restartedSincePrepare ? ` (restarted since our prepare: counts toward commits from index ${f.proofIndex} on)` : ''}`);
      this.stream(f);
      this.advanceCommit();
    };
    // The follower's promise first: we hold its permission now, so nobody changes it meanwhile.
    this.host.ops.read(f.peer, LOG_REGION, 0, header.length, header, (c) => {
      if (this.failed(f, c, epoch)) return;
      const mismatch = logFormatMismatch(header, this.S, this.cfg.slotBytes);
      if (mismatch !== null) {
        // Nothing we write there could be read (nor what it holds by us): it stays out of the term,
        // and the majority goes on without it.
        this.host.logger.warn(`follower ${f.peer}: ${mismatch}`);
        f.formatRefusedAtMs = this.host.scheduler.nowMs();
        this.detach(f, 'detached: its log cannot take ours');
        return;
      }
      if (promised() > this.proposal) {
        pending = 1;
        done();
        return;
      }
      this.host.ops.write(f.peer, LOG_REGION, H_MIN_PROPOSAL, encodeMinProposal(this.proposal), (w) => {
        if (this.failed(f, w, epoch)) return;
        done();
      });
      // Everything decided so far is at or below our log end: once the follower applied that far
      // under this proposal, its log is a trustworthy acceptor even if it restarted empty.
      syncedUpTo = this.myEnd;
      this.host.ops.write(f.peer, LOG_REGION, H_SYNC_MARKER, encodeCommitMarker({ commitIndex: syncedUpTo, proposal: this.proposal }), (w) => {
        if (this.failed(f, w, epoch)) return;
        done();
      });
    });
    f.ctlReadInFlight = true;
    this.host.ops.read(f.peer, CTL_REGION, 0, CTL_BYTES, f.ctlBuf, (c) => {
      f.ctlReadInFlight = false;
      if (this.failed(f, c, epoch)) return;
      done();
    });
  }

  /** Handles a failed completion; true if the caller must stop. */
  private failed(f: Follower, c: Completion, epoch: number): boolean {
    if (this.stopped) return true;
    if (c.ok) return f.epoch !== epoch;
    if (c.error === 'permission') {
      // Revoked: a rival took its log (we step down), or it restarted empty (we keep the term).
      // Its control words tell which; until then nothing more is written there.
      if (f.epoch === epoch) {
        this.detach(f, 'refused a write (permission revoked): reading why');
        // A read already in flight brings its answer to peerControl all the same (the scans too).
        // Unreachable: the scans judge it, and it stays detached.
        this.readFollowerControl(f, (_c, ctl) => { if (!this.stopped && ctl !== null) this.peerControl(f.peer, ctl); });
      }
      return true;
    }
    if (f.epoch === epoch) this.detach(f, `detached (${c.error ?? 'error'})`);
    return true;
  }

  /** Nothing more is written to `f` (its writes in flight are void) until it is synced again. */
  private detach(f: Follower, why: string): void {
    f.epoch++;
    f.state = 'detached';
    // Whatever it granted meanwhile, our writes there showed our grant held only until now.
    f.grantHeldAtMs = -Infinity;
    this.host.logger.info(`follower ${f.peer} ${why}`);
  }

  /** Reads `f`'s control words into its ctlBuf, unless such a read is in flight already. */
  private readFollowerControl(f: Follower, then: (c: Completion, ctl: ControlWords | null) => void): void {
    if (f.ctlReadInFlight) return;
    f.ctlReadInFlight = true;
    this.host.ops.read(f.peer, CTL_REGION, 0, CTL_BYTES, f.ctlBuf, (c) => {
      f.ctlReadInFlight = false;
      then(c, c.ok ? readControl(f.ctlBuf) : null);
    });
  }

  private learnApplied(f: Follower, applied: number): void {
    if (applied > f.appliedKnown) {
      f.appliedKnown = applied;
      if (f.state === 'streaming') this.stream(f);
      if (f.holdCountedAtMs >= 0 && this.queue.length > 0) this.kick();
    }
  }

  private askSnapshot(f: Follower): void {
    f.state = 'snapshot';
    f.epoch++;
    f.snapshotAskedAtMs = this.host.scheduler.nowMs();
    f.snapshotAskedAtIndex = this.host.pump.appliedIndex;
    this.host.logger.info(`follower ${f.peer} fell out of the ring at index ${f.nextIndex}: state transfer`);
    this.host.sendSnapshot(f.peer);
  }

  /** Writes what `f` lacks, within the ring and in-flight limits. */
  private stream(f: Follower): void {
    const { slotCount, slotBytes, maxInflightPerPeer, maxBatchSlots } = this.cfg;
    while (f.state === 'streaming' && f.inflight.length < maxInflightPerPeer && f.nextIndex <= this.myEnd) {
      const start = f.nextIndex;
      if (start <= this.myEnd - this.S) {
        this.askSnapshot(f);
        return;
      }
      const limit = f.appliedKnown + this.S;
      if (start > limit) {
        this.refreshApplied(f);
        return;
      }
      const lastInLap = start + (slotCount - ((start - 1) % slotCount)) - 1;
      let end = Math.min(this.myEnd, limit, start + maxBatchSlots - 1, lastInLap);
      // The bytes to write: [dataStart, dataStart + dataLength) of `data`.
      let data: Buffer;
      let dataStart = 0;
      let dataLength: number;
      if (start <= this.base) {
        // Decided before this term and stamped with an older proposal: re-stamp a copy with ours so
        // the follower's marker rule accepts it.
        end = Math.min(end, this.base);
        const copy = this.restamped(start, end);
        if (copy === null) {
          // Our ring does not hold it (we installed a snapshot past it): the follower needs one too.
          this.askSnapshot(f);
          return;
        }
        data = copy;
        dataLength = copy.length;
      } else {
        const lastOff = slotOffset(end, slotCount, slotBytes);
        data = this.host.log;
        dataStart = slotOffset(start, slotCount, slotBytes);
        dataLength = lastOff + SLOT_HEADER_BYTES + this.logView.getUint32(lastOff + 4, true) - dataStart;
      }
      const w = new InflightWrite(this, f, start, end, f.epoch);
      f.inflight.push(w);
      f.nextIndex = end + 1;
      f.lastSentCommit = Math.max(f.lastSentCommit, this.logView.getFloat64(slotOffset(end, slotCount, slotBytes) + 24, true));
      this.host.ops.write(f.peer, LOG_REGION, slotOffset(start, slotCount, slotBytes), data, w, dataStart, dataLength);
    }
  }

  private restamped(start: number, end: number): Buffer | null {
    const { slotCount, slotBytes } = this.cfg;
    // Slots up to a snapshot we installed were never checked against a commit marker.
    if (start <= this.host.pump.snapshotIndex) return null;
    const out = Buffer.alloc((end - start + 1) * slotBytes);
    for (let i = start; i <= end; i++) {
      const s = readSlot(this.host.log, slotOffset(i, slotCount, slotBytes), slotBytes);
      if (s === null || s.index !== i) return null;
      const payload = this.host.log.subarray(s.payloadOffset, s.payloadOffset + s.length);
      writeSlot(out, (i - start) * slotBytes, { proposal: this.proposal, index: i, commitIndex: this.commit, kind: s.kind, payload });
    }
    return out;
  }

  /** Completion of a write to `f` (InflightWrite.complete). */
  writeDone(f: Follower, w: InflightWrite, c: Completion): void {
    w.ok = c.ok;
    // Acks count in write order, and none past a failed write of this epoch: completions may come
    // out of order, and a later write that landed says nothing of the earlier one that did not
    // (failed() ends the epoch below, so later completions are ignored too).
    let gap = false;
    while (f.inflight.length > 0 && f.inflight[0].ok !== null) {
      const head = takeFirst(f.inflight)!;
      if (head.epoch !== f.epoch) continue;
      if (!head.ok) gap = true;
      else if (!gap && head.end > f.ackedIndex) f.ackedIndex = head.end;
    }
    // Whatever the outcome, the ring may have room again (this write no longer pins its slots).
    if (this.queue.length > 0) this.kick();
    if (!c.ok || w.epoch !== f.epoch) {
      this.failed(f, c, w.epoch);
      return;
    }
    if (this.stopped) return;
    this.advanceCommit();
    this.stream(f);
    if (f.lastSentCommit < this.commit) this.schedulePublish();
  }

  private refreshApplied(f: Follower): void {
    const epoch = f.epoch;
    this.readFollowerControl(f, (c, ctl) => {
      if (this.failed(f, c, epoch)) return;
      if (ctl !== null) this.learnApplied(f, ctl.appliedIndex);
    });
  }

  /** The highest index held by a majority (us included): the majority-th largest acked index. */
  private majorityAcked(): number {
    const acks = this.acksScratch;
    let n = 0;
    acks[n++] = this.myEnd;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      // Insertion into a descending array of at most a few members: no allocation on the hot path.
      const v = f.proofIndex === 0 ? Math.min(f.ackedIndex, this.myEnd) : 0;
      let j = n++;
      while (j > 0 && acks[j - 1] < v) {
        acks[j] = acks[j - 1];
        j--;
      }
      acks[j] = v;
    }
    return acks[this.host.majority - 1];
  }

  /** Followers waiting to count (proofIndex) count once `commit` reaches their index; true if any did. */
  private vouchFor(commit: number): boolean {
    let any = false;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      if (f.proofIndex === 0 || f.proofIndex > commit) continue;
      this.vouch(f, `this term committed index ${commit} after its restart`);
      any = true;
    }
    return any;
  }

  /** `f`'s acks count from now on, for as long as it runs the incarnation our last sync found. */
  private vouch(f: Follower, why: string): void {
    f.proofIndex = 0;
    f.vouchedIncarnation = f.syncedIncarnation;
    this.host.logger.info(`follower ${f.peer} counts toward commits: ${why}`);
  }

  /**
   * The followers waiting to count (proofIndex) count once every other member either has been seen
   * in another incarnation than at our prepare, or took a write of ours posted after the last of
   * their syncs. A rival term that decided anything meanwhile needed a majority to accept it; a
   * member that took our write then still held our grant all along (a member that revokes it is
   * not asked again while it votes), so it accepted nothing of a rival's, and the only other ones
   * restarted, losing what they held (a member a rival synced after its restart shows the rival's
   * proposal to our own sync first). So whatever a rival decided survives in no log we would write
   * over. Without this, a suspended term that a majority of restarted members came back to could
   * never commit again: they count only once it commits, and it cannot commit without them.
   * Called every scan.
   */
  vouchIfRestartsExplained(): void {
    if (this.stopped) return;
    let lastSyncMs = -Infinity;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      if (f.proofIndex !== 0) lastSyncMs = Math.max(lastSyncMs, f.syncedAtMs);
    }
    if (lastSyncMs === -Infinity) return;
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      if (f.proofIndex !== 0 || f.grantHeldAtMs > lastSyncMs) continue;
      const before = this.incarnationsAtPrepare.get(f.peer);
      const now = this.host.peerIncarnation(f.peer);
      if (before === undefined || now === null || now === before) return;
    }
    for (let k = 0; k < this.followerList.length; k++) {
      const f = this.followerList[k];
      if (f.proofIndex !== 0) this.vouch(f, 'every other member restarted since this term began or took its writes since');
    }
    this.advanceCommit();
  }

  /**
   * Whether `peer` counts toward commits (see Vouching, top of file). One seen in another
   * incarnation than the one we prepared or synced restarted since: it counts again only once synced
   * anew and vouched for (a suspended term resumed on its sight, then suspended again at its sync).
   */
  countsTowardCommits(peer: PeerId): boolean {
    const f = this.followers.get(peer);
    if (f === undefined || f.proofIndex !== 0) return false;
    return f.syncedIncarnation === null || this.host.peerIncarnation(peer) === f.syncedIncarnation;
  }

  /** The payload we proposed as the entry ending at `lastIndex`, while it waits for the commit point. */
  private readonly proposedAt = (lastIndex: number): Buffer | undefined => {
    const waiting = this.waiting;
    for (let k = 0; k < waiting.length && waiting[k].index <= lastIndex; k++) {
      if (waiting[k].index === lastIndex) return waiting[k].payload;
    }
    return undefined;
  };

  private advanceCommit(): void {
    if (this.stopped) return;
    let candidate = this.majorityAcked();
    if (candidate <= this.commit) return;
    if (this.vouchFor(candidate)) candidate = this.majorityAcked();
    this.commit = candidate;
    const pump = this.host.pump;
    pump.learnMarker(this.commit, this.proposal);
    pump.run(Number.MAX_SAFE_INTEGER, true, this.proposedAt);
    // Everything decided is applied, except a multi-slot entry the commit point is still inside.
    // (The message is built only on failure: this runs once per commit.)
    if (!(pump.appliedIndex >= this.commit || pump.awaitedEntryEnd > this.commit)) invariant(false, `leader applied ${pump.appliedIndex} < commit ${this.commit}`);
    this.host.appliedChanged();
    // One at a time off the front: a callback may end the term, and stop() answers the rest.
    while (this.waiting.length > 0 && this.waiting[0].index <= this.commit) {
      const w = takeFirst(this.waiting)!;
      w.cb(null, w.index, this.proposal);
    }
    if (this.stopped) return;
    this.schedulePublish();
    if (this.queue.length > 0) this.kick();
  }

  private schedulePublish(): void {
    if (this.publishTimer !== null) return;
    this.publishTimer = this.host.scheduler.setTimer(this.cfg.commitPublishDelayMs, () => {
      this.publishTimer = null;
      this.publishCommit();
    });
  }

  /** The commit point reaches followers even when no new slot carries it (the last entry becomes visible). */
  private publishCommit(probe = false): void {
    if (this.stopped) return;
    for (const f of this.followers.values()) {
      if (f.state !== 'streaming' || (!probe && f.lastSentCommit >= this.commit) || f.markerInFlight) continue;
      const commit = this.commit;
      const epoch = f.epoch;
      const postedAtMs = this.host.scheduler.nowMs();
      f.markerInFlight = true;
      this.host.ops.write(f.peer, LOG_REGION, H_COMMIT_MARKER, encodeCommitMarker({ commitIndex: commit, proposal: this.proposal }), (c) => {
        f.markerInFlight = false;
        if (this.failed(f, c, epoch)) return;
        f.markerLandedAtMs = this.host.scheduler.nowMs();
        f.grantHeldAtMs = Math.max(f.grantHeldAtMs, postedAtMs);
        f.lastSentCommit = Math.max(f.lastSentCommit, commit);
        if (f.lastSentCommit < this.commit) this.schedulePublish();
      });
    }
  }
}
