/**
 * One member of a Mu group: the roles (follower, candidate, leader) and how the planes meet.
 *
 * - Follower: grants write permission on its log to the node it sees as leader (lowest id alive,
 *   unless a live leader sits: see `electedLeader`) when that node asks; its reading pump applies
 *   decided entries.
 * - Candidate: the lowest id alive in its own view. It revokes every permission on its own log,
 *   asks every peer for permission, and once a majority (itself included) granted, runs prepare.
 * - Leader: proposes (leader.ts) until a write is refused for lack of permission, or it grants its
 *   own log to someone else.
 *
 * - Hand-over: a leader that sees a lower id alive, following it and caught up, stops taking
 *   proposals, lets the pending ones commit and steps down (`maybeYield`); that node then stands.
 *   A lower node that (re)joins never takes the lead by force, which failed every write in flight.
 *
 * - Resigned (planned stop, `resign`): stops taking proposals, lets the pending ones commit, then
 *   publishes "leaving" in its ctl region and follows; peers treat it as dead at once, so the next
 *   lowest id stands without waiting for the heartbeat to go quiet. It never stands again.
 *
 * Invariant: this node writes its own log locally only while it is candidate or leader, and then
 * nobody holds write permission on it.
 */
import type { Fabric, PeerAddress, PeerId } from '../binding/fabric';
import { ArmedGrantKeeper } from './armed-grant';
import { Background } from './background';
import type { MuConfig } from './config';
import { EntryTooLargeError, invariant, NotLeaderError } from './errors';
import {
  ControlWords, CTL_BYTES, CTL_REGION, initLogHeader, LOG_REGION, logRegionBytes, mailboxRegion, MBOX_BYTES,
  proposerOf, readCommitMarker, readMinProposal, H_SYNC_MARKER, SLOT_HEADER_BYTES, maxEntryBytes,
} from './layout';
import { FollowerProgress, LeaderTerm, ProposeCallback } from './leader';
import type { MuLogger } from './logger';
import { RestartCheck } from './restart-check';
import { OpTable } from './ops';
import { EntryHandler, ReadingPump, SkipHandler } from './pump';
import type { Scheduler, TimerHandle } from './scheduler';
import { recover, ringImage } from './recovery';
import { Takeover } from './takeover';

export type Role = 'follower' | 'candidate' | 'leader';

/**
 * Every this many scans (1-2 s) a follower runs prepare's recovery over its own log and drops the
 * result, so that the code a take-over runs (the scan of each image's run, the adoption) is
 * optimized when it is needed: a follower never runs it otherwise. When recovery still scanned whole
 * rings, interpreted, it cost 2-4 ms of the fail-over for a 4096-slot log.
 */
const TAKEOVER_DRILL_SCANS = 1000;
/** Scans (0.5-1 s) a shortage of voters lasts before this node says so (see voterShortage). */
const VOTER_SHORTAGE_REPORT_SCANS = 500;
/** Scans (1-2 s at the daemon's 5 ms) an operator's forceElection stays in effect unless this node is elected first. */
const FORCED_ELECTION_SCANS = 400;
/** Entries a follower's pump applies per run (one turn of the event loop), at most. */
const PUMP_BATCH_ENTRIES = 1024;
/** Pump batches a candidate applies before its prepare, at most (a ring's worth with the defaults). */
const TAKEOVER_PUMP_BATCHES = 4;

/** none: a member; draining: resigned, pending proposals still committing; left: mark published. */
type ResignState = 'none' | 'draining' | 'left';

/** How the application moves its state when the log cannot (see DESIGN.md, ring recycling). */
export interface StateTransferHooks {
  /** Leader side: `peer` lags beyond the ring. Ship it a snapshot of this node's state (which holds
   *  every entry up to `appliedIndex`) by application means; the peer then calls installSnapshot. */
  sendSnapshot(peer: PeerId, appliedIndex: number): void;
  /** This node stands for leader but lacks decided entries no log holds anymore: obtain a snapshot
   *  from `peer` by application means, then call installSnapshot. */
  fetchSnapshot(peer: PeerId): void;
}

export interface MuNodeOptions {
  fabric: Fabric;
  /** Every member of the group, this node included. */
  members: PeerAddress[];
  scheduler: Scheduler;
  logger: MuLogger;
  config: MuConfig;
  onEntry: EntryHandler;
  /** An index passed without an entry (pump.ts, SkipHandler); optional for applications that only count entries. */
  onSkip?: SkipHandler;
  stateTransfer?: StateTransferHooks;
  /** Random per process start (tells peers this node restarted empty). */
  incarnation: number;
  /**
   * Whether this node ran in this group before (the application keeps a durable mark of that, e.g. a
   * file). True: it may have forgotten entries it accepted, so it never votes before a leader syncs
   * it, whatever its peers show, unless every other member shows it holds nothing (RestartCheck).
   * False: a first start. Undefined: not known; judged by whether the peers seen in the first scans
   * show history, which misses an entry decided with a peer that has not learnt so yet.
   */
  startedBefore?: boolean;
  /** Appended to the "cannot be elected" line: how an operator of this application calls forceElection. */
  forceElectionHint?: string;
  /**
   * Called at the end of the turn in which `role` or `leaderId` changed (once per turn however many
   * steps it took), so an application holding writes for a leader acts at once instead of polling.
   */
  onLeaderChange?: () => void;
}

export class MuNode {
  readonly selfId: PeerId;
  readonly majority: number;
  private roleNow: Role = 'follower';
  /** onLeaderChange: a call is queued for the end of this turn; the role/leader it last reported. */
  private leaderChangeQueued = false;
  private leaderToldAs = 'follower/0';
  /**
   * The last index of the log when this node's current term began (its applied index plus the
   * entries it adopted), or was resumed after a suspension (checkQuorum). Its cache decides nothing
   * until it has applied up to here: before that it lacks writes that were committed (or adopted)
   * before the take-over, or that it failed at the suspension.
   */
  private termStart = 0;
  private readonly fabric: Fabric;
  private readonly cfg: MuConfig;
  private readonly scheduler: Scheduler;
  private readonly logger: MuLogger;
  private readonly peers: PeerId[];
  private log!: Buffer;
  private ops!: OpTable;
  private background!: Background;
  private armedGrant!: ArmedGrantKeeper;
  private pump!: ReadingPump;
  private term: LeaderTerm | null = null;
  private takeover: Takeover | null = null;
  private permissionHolder: PeerId = 0;
  private snapshotWaitUntilMs = -Infinity;
  private highestProposal = 0;
  private pumpTimer: TimerHandle | null = null;
  /**
   * The pump's period now: pumpIntervalMs after a run that applied something, else doubling up to
   * pumpIdleMaxMs (never under pumpIntervalMs).
   */
  private pumpPeriodMs: number;
  private pumpStartedLogged = false;
  private started = false;
  private stopped = false;
  /** Whether the first scans told us if the group has history (see `amnesic`). */
  private historyKnown = false;
  /** Ran in this group before (opts.startedBefore) and not yet a voter again: watches for an empty group. */
  private restartCheck: RestartCheck | null = null;
  /** Started empty into a group with history and not yet synced by a leader: not a voter. */
  private amnesic = true;
  private resignState: ResignState = 'none';
  /** Until this scan, by forceElection: live members restarted empty count as voters for us. -1: not forced. */
  private forcedUntilScan = -1;
  /**
   * A drain (resign, hand-over): no new proposals; those taken commit, at most until `untilMs`, then
   * `end` runs, told whether some were still undecided. Checked at every commit and every scan, so
   * the deadline holds when nothing commits. Null: none.
   */
  private drain: { untilMs: number; end: (undecided: boolean) => void } | null = null;
  /** Highest proposal number this node knew when it left: a higher one in our log is a successor's. */
  private leftAtProposal = Infinity;
  /** While leading: when this node first saw fewer than a majority alive, itself included (-1: it sees a majority). */
  private quorumLostAtMs = -1;
  /** What the last "cannot be elected" line said (null: none said, or a majority may vote again). */
  private voterShortageSaid: string | null = null;
  /** Since when the current shortage of voters lasts, in scans (-1: none). */
  private voterShortageSinceScan = -1;
  /** What the last "suspended term cannot resume yet" line said (null: none, or it resumed). */
  private cannotResumeSaid: string | null = null;

  constructor(private readonly opts: MuNodeOptions) {
    this.fabric = opts.fabric;
    this.selfId = opts.fabric.selfId;
    this.cfg = opts.config;
    this.pumpPeriodMs = this.cfg.pumpIntervalMs;
    this.scheduler = opts.scheduler;
    this.logger = opts.logger;
    const ids = opts.members.map((m) => m.peerId);
    invariant(ids.includes(this.selfId), `members include this node (${this.selfId})`);
    invariant(new Set(ids).size === ids.length && ids.every((i) => Number.isInteger(i) && i >= 1 && i <= 255), 'member ids are distinct integers 1..255');
    invariant(this.cfg.slotBytes > SLOT_HEADER_BYTES && this.cfg.slotCount >= 2, 'slots hold a header and a payload');
    invariant(this.cfg.scoreDeadAt < this.cfg.scoreAliveAt && this.cfg.scoreAliveAt <= this.cfg.scoreMax, 'score thresholds: dead < alive <= max (hysteresis)');
    this.peers = ids.filter((i) => i !== this.selfId).sort((a, b) => a - b);
    this.majority = Math.floor(ids.length / 2) + 1;
  }

  /** A leader whose term is suspended (no majority reachable, see checkQuorum) reports itself a candidate. */
  get role(): Role {
    return this.termSuspended ? 'candidate' : this.roleNow;
  }

  /** Leading a term that is suspended (checkQuorum). */
  private get termSuspended(): boolean {
    return this.roleNow === 'leader' && this.term !== null && this.term.suspended;
  }

  /** See termStart; 0 when not leading. */
  get termStartIndex(): number {
    return this.roleNow === 'leader' ? this.termStart : 0;
  }

  /** The leader as this node knows it: itself when leading, else the holder of its log permission. */
  get leaderId(): PeerId | null {
    if (this.roleNow === 'leader') return this.termSuspended ? null : this.selfId;
    return this.permissionHolder > 0 ? this.permissionHolder : null;
  }

  /**
   * Whether this node's copy holds the group's history: it knows whether the group had any (the
   * start-up scans are over) and, if it restarted empty into a group that had, a leader has synced
   * it since (its pump applied up to the sync marker). Until then its applied state lacks entries
   * committed before it (re)started.
   */
  get historySynced(): boolean {
    return this.historyKnown && !this.amnesic;
  }

  /** Whether this node counts in a prepare majority (not restarted-and-unsynced, not resigned). */
  get voter(): boolean {
    return this.mayLead;
  }

  /** Whether resign() was called (the node no longer takes proposals, and never leads again). */
  get resigned(): boolean {
    return this.resignState !== 'none';
  }

  /**
   * After resign, once the leaving mark is out: the node that took over, known because it wrote our
   * log (its term syncs every follower that grants, and a leaving node grants the leader of its
   * view) under a proposal number above any this node knew. Null until then.
   */
  get successor(): PeerId | null {
    if (this.resignState !== 'left') return null;
    const mp = readMinProposal(this.log);
    return mp > this.leftAtProposal ? proposerOf(mp) : null;
  }

  /** Eligible to lead and to count in a prepare majority, in this node's own view. */
  private get mayLead(): boolean {
    return this.historyKnown && !this.amnesic && this.resignState === 'none';
  }

  /** `peer` is dead in this node's view and never announced that it leaves (Background.isSilent). */
  peerSilent(peer: PeerId): boolean {
    return this.background !== undefined && this.background.isSilent(peer);
  }

  /** 0 before start(): nothing applied yet. */
  get appliedIndex(): number {
    return this.pump === undefined ? 0 : this.pump.appliedIndex;
  }

  /**
   * For stats: the proposal number of the term this node leads or follows (0: none yet), the commit
   * index it knows (a follower learns it from the leader's markers), and when leading, each
   * follower's progress.
   */
  get progress(): { proposal: number; commitIndex: number; followers: FollowerProgress[] } {
    if (this.roleNow === 'leader' && this.term !== null) {
      return { proposal: this.term.proposal, commitIndex: this.term.commitIndex, followers: this.term.followerProgress() };
    }
    return { proposal: readMinProposal(this.log), commitIndex: this.pump.commitKnown, followers: [] };
  }

  /** Largest entry: up to half the ring, in parts, when it is larger than one slot (layout.ts). */
  get maxPayloadBytes(): number {
    return maxEntryBytes(this.cfg.slotCount, this.cfg.slotBytes);
  }

  /** While leading: this term's commit point (what `learnCommit` takes on a follower); else null. */
  get leaderCommit(): { commitIndex: number; proposal: number } | null {
    if (this.roleNow !== 'leader' || this.term === null) return null;
    return { commitIndex: this.term.commitIndex, proposal: this.term.proposal };
  }

  /**
   * The leader's commit point, told through an authenticated channel of the application (the reply
   * to a forwarded write): as good as the marker it would write into our log, since a leader writes
   * one value per index in its term. Applied at once instead of at the next pump tick after the
   * leader's idle publish, which kept a forwarded write waiting up to two timer periods.
   */
  learnCommit(commitIndex: number, proposal: number): void {
    if (!this.started || this.stopped || this.roleNow === 'leader') return;
    this.pump.learn({ commitIndex, proposal });
    this.runPump();
  }

  start(): void {
    invariant(!this.started, 'start once');
    this.started = true;
    const { slotCount, slotBytes } = this.cfg;
    this.log = this.fabric.registerRegion(LOG_REGION, logRegionBytes(slotCount, slotBytes));
    initLogHeader(this.log, slotCount, slotBytes);
    const ctl = this.fabric.registerRegion(CTL_REGION, CTL_BYTES);
    this.fabric.grantWrite(LOG_REGION, null);
    this.fabric.grantWrite(CTL_REGION, null);
    const mailboxes = new Map<PeerId, Buffer>();
    for (const p of this.peers) {
      mailboxes.set(p, this.fabric.registerRegion(mailboxRegion(p), MBOX_BYTES));
      this.fabric.grantWrite(mailboxRegion(p), p);
    }
    for (const m of this.opts.members) if (m.peerId !== this.selfId) this.fabric.connectPeer(m);
    this.ops = new OpTable(this.fabric, this.scheduler, this.cfg.completionWaitMs, this.cfg.completionBusyPollMs);
    this.armedGrant = new ArmedGrantKeeper(this.fabric, this.selfId);
    this.pump = new ReadingPump(this.log, slotCount, slotBytes, this.opts.onEntry, this.opts.onSkip);
    this.background = new Background(this.fabric, this.ops, this.scheduler, this.logger, this.cfg, this.selfId, this.peers, ctl, mailboxes, {
      onPeerControl: (peer, words) => this.onPeerControl(peer, words),
      onPermissionRequest: (peer, seq) => this.onPermissionRequest(peer, seq),
      onScan: () => this.onScan(),
      progress: () => ({ appliedIndex: this.pump.appliedIndex, firstUndecided: this.pump.commitKnown + 1 }),
    }, this.opts.incarnation);
    if (this.opts.startedBefore === true) this.restartCheck = new RestartCheck(this.peers, this.ops, this.background);
    this.background.start();
    this.schedulePump();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.takeover?.cancel();
    this.term?.stop('node stopped');
    this.armedGrant?.want(null);
    this.background?.stop();
    this.pumpTimer?.cancel();
    this.ops?.close();
  }

  /**
   * Resolves with the entry's index once committed; rejects with NotLeader / LostLeadership.
   * `payload` is not copied: it must not change until the proposal settles (it is written into the
   * log when the turn ends, and the leader's pump hands this very Buffer to the entry handler for an
   * entry in parts instead of assembling a copy from the log).
   */
  propose(payload: Buffer): Promise<number> {
    return new Promise((resolve, reject) => this.proposeCb(payload, (err, index) => (err ? reject(err) : resolve(index))));
  }

  /** Callback form of propose (no promise allocation); also reports the proposal number. */
  proposeCb(payload: Buffer, cb: ProposeCallback): void {
    if (payload.length > this.maxPayloadBytes) {
      cb(new EntryTooLargeError(payload.length, this.maxPayloadBytes), 0, 0);
      return;
    }
    if (this.term === null || this.roleNow !== 'leader' || this.termSuspended || this.resignState !== 'none' || this.drain !== null) {
      cb(new NotLeaderError(this.leaderId === this.selfId ? null : this.leaderId), 0, 0);
      return;
    }
    this.term.propose(payload, cb);
  }

  /**
   * Planned leave (rolling restart): from now on proposals reject with NotLeader. A leader lets the
   * entries it already took commit (at most `drainTimeoutMs`; those still undecided then fail with
   * LostLeadership, as on any loss of leadership), then steps down and publishes the leaving mark
   * (layout.ts, ctl status). Peers that read it treat this node as dead at once and the next lowest
   * id stands; the new leader still prepares, so safety does not rest on this node's goodwill. Wait
   * for `successor` (bounded) before stop(): the peers must read the mark before the region goes.
   * Idempotent; permanent for this node's life.
   */
  resign(drainTimeoutMs = this.cfg.scanIntervalMs * 20): void {
    if (!this.started || this.stopped || this.resignState !== 'none') return;
    this.resignState = 'draining';
    this.logger.info(`resigning (${this.roleNow}): no new proposals`);
    if (this.roleNow === 'candidate') this.toFollower('resigning');
    this.startDrain(drainTimeoutMs, (undecided) => this.leave(undecided));
  }

  private startDrain(timeoutMs: number, end: (undecided: boolean) => void): void {
    this.drain = { untilMs: this.scheduler.nowMs() + timeoutMs, end };
    this.tryEndDrain();
  }

  private tryEndDrain(): void {
    const d = this.drain;
    if (d === null || this.stopped) return;
    const undecided = this.term !== null && this.term.undecided > 0;
    if (undecided && this.scheduler.nowMs() < d.untilMs) return;
    this.drain = null;
    d.end(undecided);
  }

  /** The resign drain ended: publish the leaving mark. */
  private leave(undecided: boolean): void {
    if (this.roleNow !== 'follower') this.toFollower(undecided ? 'resigned with entries undecided (drain timed out)' : 'resigned');
    this.resignState = 'left';
    this.leftAtProposal = Math.max(this.highestProposal, readMinProposal(this.log));
    this.background.publish({ leaving: true });
    this.logger.info('left the group: peers treat this node as gone');
  }

  /** The application installed a snapshot holding every entry up to `index`: the log resumes after it. */
  installSnapshot(index: number): void {
    if (this.stopped) return;
    if (index > this.pump.appliedIndex) {
      this.pump.skipTo(index);
      this.logger.info(`installed a snapshot up to index ${index}`);
      this.publishApplied();
    }
    this.snapshotWaitUntilMs = -Infinity;
  }

  /** After every scan, mailbox landing and view change (Background.onScan). */
  private onScan(): void {
    if (this.stopped) return;
    this.absorbArmedGrants();
    this.actOnView();
    if (!this.stopped) this.armGrantForLeaderDeath();
  }

  private actOnView(): void {
    this.tryEndDrain();
    if (this.roleNow === 'follower' && this.background.scans % TAKEOVER_DRILL_SCANS === 0) {
      recover(this.pump.appliedIndex, [ringImage(this.selfId, this.log, this.pump.appliedIndex, this.cfg.slotCount, this.cfg.slotBytes)], this.cfg.slotCount, this.cfg.slotBytes);
    }
    this.restartCheck?.probe();
    if (!this.historyKnown && this.background.scans >= this.cfg.startupScans) {
      this.historyKnown = true;
      if (this.restartCheck !== null) {
        this.amnesic = true;
        this.logger.info('ran in this group before and restarted empty: not a voter until a leader syncs this node');
      } else {
        this.amnesic = this.background.peersShowHistory();
        this.logger.info(this.amnesic ? 'joined a group with history: not a voter until a leader syncs this node' : 'starting a new group');
      }
      this.background.publish({ amnesic: this.amnesic });
    }
    if (this.historyKnown && this.amnesic && this.restartCheck?.groupEmpty === true) this.becomeVoter('every other member holds nothing either (the whole group restarted empty): starting the group anew');
    const lowest = this.electedLeader();
    // No log write of ours in flight: a request sent now may be granted at any later time (see
    // Background.requestPermission), and prepare's reads must see every write we ever posted.
    const drained = this.roleNow === 'leader' || this.ops.writesInFlight(LOG_REGION) === 0;
    if (this.roleNow === 'follower') {
      if (this.mayLead && drained) this.keepRequestsStanding();
      if (lowest !== this.selfId || this.background.scans < this.cfg.startupScans || this.scheduler.nowMs() < this.snapshotWaitUntilMs) return;
      // Standing takes every grant on our log back, ending the term that holds it: pointless while
      // fewer than a majority alive may vote in our view (nobody could grant us a prepare
      // majority), and harmful when a flapping detector took the leader for dead while most
      // members are restarted nodes only its term can sync (the group could then elect nobody).
      if (this.voterShortage()) return;
      // Stand and ask at once (below), not a scan later.
      this.becomeCandidate();
      if ((this.roleNow as Role) !== 'candidate') return;
    }
    if (this.roleNow === 'candidate' && lowest !== this.selfId) {
      this.toFollower(`node ${lowest} is alive and lower, or leads`);
      return;
    }
    if (this.roleNow === 'leader') {
      this.term?.vouchIfRestartsExplained();
      this.checkQuorum();
    }
    if (this.roleNow === 'leader' && !this.termSuspended) this.maybeYield();
    if ((this.roleNow as Role) === 'follower') return;
    // Candidate or leader: collect grants, re-ask the peers that have not granted (the same request:
    // see Background.requestPermission).
    let granted = 1; // voters that granted, us included: an amnesic grant streams but cannot prepare
    for (const p of this.peers) {
      const state = this.background.grantState(p);
      if (state === 'granted') {
        if (this.countsAsVoter(p)) granted++;
        if (this.term !== null && !this.term.isGranted(p)) this.term.granted(p);
        continue;
      }
      if (state === 'revoked') {
        // Whatever was built on that grant is void: a term that wrote under it, or a prepare that
        // read that log. Only a candidate that did neither yet may simply ask again. A term goes on
        // when the peer is no voter (restarted empty, not synced yet): its grant counts in nobody's
        // prepare, so no rival can be taking over with it; our writes there fail and the term
        // detaches it until it grants us again. (Ending the term there, as a restarted node's
        // detector flapped, left groups with a majority restarted empty without a voter majority.)
        if (this.term !== null && this.term.isGranted(p) && this.background.isVoter(p)) { this.toFollower(`node ${p} gave its log to another node`); return; }
        if (this.takeover !== null) { this.toFollower(`node ${p} gave its log to another node during prepare`); return; }
        // Nothing more is written there under the revoked grant (see below): synced anew once it grants again.
        this.term?.grantRevoked(p);
      }
      // A leader's term goes on writing to its other followers, so it waits for the writes to this
      // peer alone: one still in flight when the peer grants the new request would land in its log
      // after that grant, under a term the peer may have left for a higher one meanwhile.
      const drainedHere = this.roleNow === 'leader' ? this.ops.writesInFlightTo(p) === 0 : drained;
      if (drainedHere && (state === 'revoked' || this.background.requestAgeMs(p) >= this.cfg.permissionRetryMs)) this.background.requestPermission(p);
    }
    if (this.roleNow === 'candidate' && this.takeover === null && drained && granted >= this.majority) this.startTakeover();
    if (this.roleNow === 'candidate') this.voterShortage();
  }

  /**
   * Operator override for a group that cannot elect anyone: the leader lost its memory together
   * with a majority (killed and restarted empty), and the members that remember cannot make a
   * majority of voters. For the next FORCED_ELECTION_SCANS scans, live members restarted empty
   * count as voters for this node, so it can stand, prepare and lead; its term then syncs them from
   * its log. Entries committed only in the lost memories are gone: this node's log is taken as the
   * group's history. Only for when the other members really did restart empty: a voter alive but
   * unseen (cut off, not dead) could still lead with other members, and two leaders would then
   * write. Returns what it did, in a sentence; refuses (and says why) when it cannot help.
   */
  forceElection(): string {
    if (this.stopped || this.resignState !== 'none') return 'not forced: this node is leaving the group';
    if (!this.historySynced) return 'not forced: this node restarted empty itself (or is starting): it holds no history to lead with';
    if (this.roleNow === 'leader') return this.termSuspended ? 'not forced: this node leads a suspended term; it resumes once a majority is reachable' : 'not forced: this node leads already';
    // The lowest id alive that remembers stands (electedLeader): forcing any other node would do nothing.
    const lower = this.background.lowestAlive(true);
    if (lower !== this.selfId) return `not forced: node ${lower} (lower id, alive, remembers the group) is the one to stand: force its election instead`;
    const alive = this.votersAlive(true);
    if (alive < this.majority) {
      return `not forced: ${alive} of ${this.peers.length + 1} members alive (${this.majority} needed even counting the ones restarted empty)`;
    }
    const empty = this.peers.filter((p) => this.background.isPresent(p) && !this.background.isVoter(p));
    this.forcedUntilScan = this.background.scans + FORCED_ELECTION_SCANS;
    const said = `forced election: counting node${empty.length === 1 ? '' : 's'} ${empty.join(', ') || '(none)'} (restarted empty) as voters for this node; ` +
      'writes committed only on members that lost their memory are lost';
    this.logger.warn(said);
    return said;
  }

  /** An operator's forceElection is in effect (until this node is elected, or the window ends). */
  private get forcing(): boolean {
    return this.forcedUntilScan >= this.background.scans;
  }

  /** A peer's grant counts in our prepare majority: it is a voter, or an election is forced and it is present. */
  private countsAsVoter(p: PeerId, forced = this.forcing): boolean {
    return this.background.isVoter(p) || (forced && this.background.isPresent(p));
  }

  /** Members alive whose grants would count in our prepare majority, us included. */
  private votersAlive(forced: boolean): number {
    let alive = 1;
    for (const p of this.peers) if (this.background.isAlive(p) && this.countsAsVoter(p, forced)) alive++;
    return alive;
  }

  /**
   * Whether this node could not be elected even if every live peer granted: fewer than a majority
   * alive may vote (the others dead, or restarted empty and never synced by a leader since). A
   * lasting shortage is said once per change, naming the nodes, so an operator sees why writes are
   * refused: with the group's memory held only in the nodes' logs, a majority that lost it cannot
   * elect again.
   */
  private voterShortage(): boolean {
    const alive = this.votersAlive(this.forcing);
    if (alive >= this.majority) {
      this.voterShortageSaid = null;
      this.voterShortageSinceScan = -1;
      return false;
    }
    // Elections and restarts pass through short shortages (peers not seen yet): only a lasting one is news.
    if (this.voterShortageSinceScan < 0) this.voterShortageSinceScan = this.background.scans;
    if (this.background.scans - this.voterShortageSinceScan < VOTER_SHORTAGE_REPORT_SCANS) return true;
    const unsynced = this.peers.filter((p) => this.background.isAlive(p) && !this.background.isVoter(p));
    const shortage = `cannot be elected: ${alive} of ${this.peers.length + 1} members alive may vote, ${this.majority} needed` +
      (unsynced.length > 0 ? ` (node${unsynced.length > 1 ? 's' : ''} ${unsynced.join(', ')} restarted empty or leaving: no vote until a leader syncs them)` : '');
    if (shortage !== this.voterShortageSaid) this.logger.warn(unsynced.length > 0 && this.opts.forceElectionHint !== undefined ? `${shortage}; ${this.opts.forceElectionHint}` : shortage);
    this.voterShortageSaid = shortage;
    return true;
  }

  /**
   * Who should lead in this node's view: the lowest id alive (that may lead), except that a live
   * leader keeps its term. A lower node that (re)joins follows it, is synced (then sent a snapshot
   * if it fell behind the ring), and is handed the lead once caught up (`maybeYield`): taking the
   * lead by force failed every write in flight at the old leader, and a resumed stale node did it
   * with its catch-up inside the take-over.
   */
  private electedLeader(): PeerId {
    const lowest = this.background.lowestAlive(this.mayLead);
    if (this.roleNow === 'leader') return lowest;
    const sitting = this.background.sittingLeader(this.permissionHolder);
    return sitting !== 0 ? sitting : lowest;
  }

  /**
   * Leading while a lower id that may lead is alive, follows us and holds all we committed: hand it
   * the lead. New proposals are refused (NotLeader: nothing written, the caller may retry), the
   * pending ones commit (bounded), then we step down and stop publishing ourselves as leader, so
   * that node stands and every peer grants it.
   */
  private maybeYield(): void {
    if (this.drain !== null || this.term === null || this.resignState !== 'none') return;
    const lower = this.background.lowestAlive(false);
    if (lower === 0 || lower > this.selfId || !this.term.caughtUp(lower)) return;
    this.logger.info(`handing the lead to node ${lower} (lower id, caught up): no new proposals`);
    this.startDrain(this.cfg.scanIntervalMs * 20, (undecided) => {
      // Lost the lead meanwhile: nothing left to hand over.
      if (this.roleNow !== 'leader') return;
      this.toFollower(undecided ? `handing the lead to node ${lower} with entries undecided (drain timed out)` : `handed the lead to node ${lower}`);
    });
  }

  /**
   * Leading while fewer than a majority can take its writes (itself included): nothing it holds
   * undecided can commit until some come back, and its clients would wait with no bound. A peer
   * counts while the detector sees it alive, or while our writes land in its memory (a paused
   * process's memory still takes one-sided writes: Mu commits through it, and the term's idle probe
   * keeps that evidence fresh). After quorumLossMs short of a majority the term is suspended: what
   * it holds undecided fails with LostLeadership (outcome unknown), new proposals with NotLeader,
   * and this node reports itself a candidate. The term itself goes on, not a new election: peers
   * that come back (restarted empty, they grant the lowest id alive) are synced into it and vote
   * again, and once a majority is reachable it takes proposals again (the entries it held then
   * commit, and the pump tells their fate). Stepping down instead left a group whose followers had
   * restarted empty with no voter majority, ever, though this node holds every committed entry.
   */
  private checkQuorum(): void {
    const term = this.term;
    if (term === null) return;
    let reachable = 1;
    const uncounted: PeerId[] = [];
    for (const p of this.peers) {
      if (!(this.background.isPresent(p) || term.wroteWithin(p, this.cfg.quorumLossMs))) continue;
      if (term.countsTowardCommits(p)) reachable++;
      else uncounted.push(p);
    }
    if (term.suspended && reachable < this.majority && reachable + uncounted.length >= this.majority) this.sayCannotResume(uncounted);
    if (reachable >= this.majority) {
      this.cannotResumeSaid = null;
      this.quorumLostAtMs = -1;
      if (term.suspended) {
        // The entries failed at the suspension are still in the log, ahead of anything proposed
        // from now on, and the application let go of them (it decides against what it applied plus
        // what it has in flight): it must apply them before it decides anew, as a new leader does
        // with what it adopted.
        this.termStart = Math.max(this.termStart, term.lastIndex);
        term.resume();
        this.leaderMayHaveChanged();
        this.logger.info(`majority reachable again (${reachable} of ${this.peers.length + 1} nodes reachable): taking writes as leader`);
      }
      return;
    }
    if (term.suspended) return;
    const nowMs = this.scheduler.nowMs();
    if (this.quorumLostAtMs < 0) this.quorumLostAtMs = nowMs;
    if (nowMs - this.quorumLostAtMs < this.cfg.quorumLossMs) return;
    this.quorumLostAtMs = -1;
    const reason = `lost the majority: ${reachable} of ${this.peers.length + 1} nodes reachable for ${this.cfg.quorumLossMs} ms`;
    this.logger.info(`leader -> suspended: ${reason}; undecided writes fail (outcome unknown), new ones wait for a majority`);
    term.suspend(reason);
    this.leaderMayHaveChanged();
  }

  /**
   * A suspended term sees a majority again, but only thanks to members that restarted empty since
   * it began (`restarted`): their grants cannot show that no other leader was elected meanwhile by
   * the members it cannot reach, so it waits (leader.ts, Vouching). Said once per change.
   */
  private sayCannotResume(restarted: PeerId[]): void {
    const unreached = this.peers.filter((p) => !restarted.includes(p) && !this.background.isPresent(p));
    if (unreached.length === 0) return;
    const said = `suspended term cannot resume yet: node${restarted.length > 1 ? 's' : ''} ${restarted.join(', ')} restarted empty since it began, ` +
      `and node${unreached.length > 1 ? 's' : ''} ${unreached.join(', ')} may have elected another leader meanwhile; ` +
      'it resumes once those are reachable again or seen restarted';
    if (said === this.cannotResumeSaid) return;
    this.cannotResumeSaid = said;
    this.logger.warn(said);
  }

  /**
   * A follower that may lead keeps a request standing at every peer but its leader, so that when the
   * leader dies each peer grants it as soon as that peer sees it as the lowest id alive.
   */
  private keepRequestsStanding(): void {
    for (const p of this.peers) {
      if (p === this.permissionHolder) continue;
      const state = this.background.grantState(p);
      if (state === 'none' || state === 'revoked') this.background.requestPermission(p);
    }
  }

  private becomeCandidate(): void {
    this.roleNow = 'candidate';
    this.fabric.grantWrite(LOG_REGION, null);
    this.setHolder(0);
    this.logger.info('standing for leader');
    this.background.alert();
    if (this.majority === 1) this.startTakeover();
  }

  private startTakeover(): void {
    // First apply what our own log shows committed (a follower's pump runs a tick behind): prepare
    // re-proposes every entry after our applied index, reading it from the peers and rewriting it
    // under the new proposal number. The log is ours alone now (a candidate granted it to nobody).
    for (let batches = 0; batches < TAKEOVER_PUMP_BATCHES && this.runPump(); batches++);
    const granted = this.peers.filter((p) => this.background.isGrantedBy(p));
    const incarnations = new Map<PeerId, number>();
    for (const p of this.peers) {
      const words = this.background.peerWords(p);
      if (words !== null) incarnations.set(p, words.incarnation);
    }
    const t = new Takeover({
      selfId: this.selfId, cfg: this.cfg, ops: this.ops, ownLog: this.log, ownApplied: this.pump.appliedIndex,
      majority: this.majority, granted, highestKnownProposal: Math.max(this.highestProposal, this.pump.markerProposal),
      note: (m) => this.logger.info(m), forced: this.forcing,
    }, (o) => {
      if (this.takeover !== t) return;
      this.takeover = null;
      if (o.kind === 'failed') {
        this.toFollower(`take-over failed: ${o.reason}`);
      } else if (o.kind === 'needs-snapshot') {
        this.snapshotWaitUntilMs = this.scheduler.nowMs() + this.cfg.scanIntervalMs * 50;
        this.toFollower(`behind the ring: fetching a snapshot from ${o.fromPeer}`);
        if (this.opts.stateTransfer) this.opts.stateTransfer.fetchSnapshot(o.fromPeer);
        else this.logger.warn('no state-transfer hook: cannot catch up');
      } else {
        this.becomeLeader(o.proposal, o.base, o.adopted, o.quorum, incarnations);
      }
    });
    this.takeover = t;
    this.logger.info(`prepare: granted by ${granted.join(',')}`);
    t.start();
  }

  private becomeLeader(
    proposal: number, base: number, adopted: Array<{ index: number; kind: number; payload: Buffer }>, quorum: Array<{ peer: PeerId; appliedIndex: number }>,
    incarnationsAtPrepare: ReadonlyMap<PeerId, number>,
  ): void {
    this.highestProposal = Math.max(this.highestProposal, proposal);
    this.termStart = base + adopted.length;
    if (this.forcedUntilScan >= 0) this.logger.warn('forced election won: members restarted empty are synced from this node\'s log');
    this.forcedUntilScan = -1;
    this.roleNow = 'leader';
    this.quorumLostAtMs = -1;
    const term = new LeaderTerm({
      selfId: this.selfId, cfg: this.cfg, log: this.log, ops: this.ops, scheduler: this.scheduler, logger: this.logger,
      pump: this.pump, majority: this.majority,
      holdsGrant: (peer) => this.background.isGrantedBy(peer),
      peerIncarnation: (peer) => this.background.peerIncarnation(peer),
      peerAlive: (peer) => this.background.isAlive(peer),
      stepDown: (reason) => { if (this.term === term) this.toFollower(reason); },
      // The leader's applied index goes out with its heartbeat. A draining leader re-checks after the
      // commit's callbacks ran (stepping down inside advanceCommit would fail committed entries).
      appliedChanged: () => { if (this.drain !== null) this.scheduler.defer(() => this.tryEndDrain()); },
      sendSnapshot: (peer) => {
        if (this.opts.stateTransfer) this.opts.stateTransfer.sendSnapshot(peer, this.pump.appliedIndex);
        else this.logger.warn(`no state-transfer hook: follower ${peer} cannot catch up`);
      },
    }, proposal, base, adopted, this.peers, incarnationsAtPrepare);
    this.term = term;
    // Peers read a sitting leader from this (Background.sittingLeader). Nobody holds our log: a
    // candidate revoked every grant on it (becomeCandidate).
    this.setHolder(this.selfId);
    this.logger.info(`became leader (proposal ${proposal}, adopted ${adopted.length} entries after index ${base})`);
    for (const p of this.peers) {
      if (!this.background.isGrantedBy(p)) continue;
      const prepared = quorum.find((q) => q.peer === p);
      // A member restarted empty in a forced election's quorum still needs the sync round: its sync
      // marker is what makes it a voter again.
      if (prepared !== undefined && this.background.isVoter(p)) term.grantedAndPrepared(p, prepared.appliedIndex);
      else term.granted(p);
    }
    term.flush();
  }

  private toFollower(reason: string): void {
    const was = this.roleNow;
    this.roleNow = 'follower';
    this.takeover?.cancel();
    this.takeover = null;
    const term = this.term;
    this.term = null;
    if (this.permissionHolder === this.selfId) this.setHolder(0);
    this.background.dropGrantedRequests();
    if (term !== null) this.highestProposal = Math.max(this.highestProposal, term.proposal);
    this.logger.info(`${was} -> follower: ${reason}`);
    term?.stop(reason);
    this.leaderMayHaveChanged();
  }

  /**
   * Arm the grant this node would make once the leader it follows dies (armed-grant.ts): to the
   * node its view would then elect, for that node's standing request.
   */
  private armGrantForLeaderDeath(): void {
    const leader = this.permissionHolder;
    if (this.roleNow !== 'follower' || this.drain !== null || leader === 0 || leader === this.selfId || this.electedLeader() !== leader) {
      this.armedGrant.want(null);
      return;
    }
    const next = this.background.sittingLeader(0, leader) === 0 ? this.background.lowestAlive(this.mayLead, leader) : 0;
    const grantSeq = next === 0 || next === this.selfId ? 0 : this.background.pendingRequestFrom(next);
    this.armedGrant.want(grantSeq === 0 ? null : { whenGone: leader, grantee: next, grantSeq, requestSeq: this.background.standingRequestAt(next) });
  }

  /** Grants the fabric made from our arm while this thread was elsewhere: the bookkeeping of a grant. */
  private absorbArmedGrants(): void {
    for (const g of this.armedGrant.take()) {
      invariant(g.region === LOG_REGION, 'only the log is armed');
      if (this.fabric.writeHolder(LOG_REGION) !== g.grantee) {
        // This thread gave the log elsewhere since (grantWrite disarms, but the grant came first).
        // The request is answered all the same (a number is granted at most once), and taken back.
        this.logger.info(`node ${g.grantee}'s armed grant was made as node ${g.whenGone} went away, and taken back since`);
        this.background.ackGrant(g.grantee, g.tag);
        this.background.revokeGrant(g.grantee);
        continue;
      }
      // Only a follower arms, and leaving that role takes the log back (becomeCandidate).
      invariant(this.roleNow === 'follower', `an armed grant stands while ${this.roleNow}`);
      // The box goes again: the fabric's copy may be missing, or hold a request number of ours since changed.
      this.recordGrant(g.grantee, g.tag, ` (our log was granted as node ${g.whenGone} went away)`);
    }
  }

  private onPermissionRequest(peer: PeerId, seq: number): boolean {
    this.absorbArmedGrants();
    // The fabric may have granted this very request (a number is granted at most once).
    if (this.background.answered(peer, seq)) return true;
    // Grant only to the leader of our own view; anyone else retries until views agree.
    if (peer !== this.electedLeader()) return false;
    // A draining leader (resigning, or handing over) lets its taken entries commit first (bounded by
    // the drain deadline; the request stays pending and is granted once it stepped down): granting
    // now would fail them all.
    if (this.drain !== null && this.roleNow === 'leader') return false;
    if (this.roleNow !== 'follower') this.toFollower(`granting our log to ${peer}`);
    this.fabric.grantWrite(LOG_REGION, peer);
    this.recordGrant(peer, seq);
    return true;
  }

  /** Our log is `peer`'s now, for its request `seq` (granted here, or by an armed grant): publish it and answer. */
  private recordGrant(peer: PeerId, seq: number, how = ''): void {
    if (this.permissionHolder !== peer) this.logger.info(`following leader ${peer}${how}`);
    this.setHolder(peer);
    this.highestProposal = Math.max(this.highestProposal, readMinProposal(this.log));
    this.background.ackGrant(peer, seq);
  }

  private onPeerControl(peer: PeerId, words: ControlWords): void {
    this.term?.peerControl(peer, words);
  }

  /** Tells the application (onLeaderChange) once this turn is over, if role or leaderId changed by then. */
  private leaderMayHaveChanged(): void {
    if (this.opts.onLeaderChange === undefined || this.leaderChangeQueued) return;
    this.leaderChangeQueued = true;
    this.scheduler.defer(() => {
      this.leaderChangeQueued = false;
      const now = `${this.role}/${this.leaderId ?? 0}`;
      if (now === this.leaderToldAs || this.stopped) return;
      this.leaderToldAs = now;
      this.opts.onLeaderChange?.();
    });
  }

  private setHolder(peer: PeerId): void {
    // The previous holder's grant is over: tell it, so it does not count that grant when it stands.
    if (this.permissionHolder !== 0 && this.permissionHolder !== peer && this.permissionHolder !== this.selfId) this.background.revokeGrant(this.permissionHolder);
    this.permissionHolder = peer;
    this.background.publish({ permissionHolder: peer });
    this.leaderMayHaveChanged();
  }

  private publishApplied(): void {
    this.background.publish({ appliedIndex: this.pump.appliedIndex, firstUndecided: this.pump.commitKnown + 1 });
  }

  /**
   * A run that applied a whole batch is followed by the next one in the next turn of the event loop,
   * not a pump interval later: a follower that was descheduled for a few milliseconds has that much
   * of the leader's stream to apply, and at one batch per interval it could never catch up (it fell
   * out of the ring instead, into a state transfer).
   */
  private schedulePump(afterMs = this.cfg.pumpIntervalMs): void {
    this.pumpTimer = this.scheduler.setTimer(afterMs, () => {
      if (this.stopped) return;
      const before = this.pump.appliedIndex;
      const more = this.runPump();
      // A follower that applied something polls again soon (more is on its way while a leader
      // streams); an idle one backs off: fewer wake-ups. So does a leader: its runs apply nothing
      // (its commits run the pump).
      const { pumpIntervalMs, pumpIdleMaxMs } = this.cfg;
      this.pumpPeriodMs = this.pump.appliedIndex !== before ? pumpIntervalMs : Math.max(pumpIntervalMs, Math.min(2 * this.pumpPeriodMs, pumpIdleMaxMs));
      this.schedulePump(more ? 0 : this.pumpPeriodMs);
    });
  }

  /** The end of amnesia: this node's log is a trustworthy acceptor (`why` says how it knows). */
  private becomeVoter(why: string): void {
    this.amnesic = false;
    this.restartCheck = null;
    this.background.publish({ amnesic: false });
    this.logger.info(why);
  }

  /** Applies one batch of what is decided; true if the batch was full (more may be waiting). */
  private runPump(): boolean {
    if (this.roleNow === 'leader') return false; // the leader's pump is fed by its commits
    const before = this.pump.appliedIndex;
    const applied = this.pump.run(PUMP_BATCH_ENTRIES);
    if (this.pump.appliedIndex !== before) this.publishApplied();
    if (this.amnesic && this.historyKnown) {
      const sync = readCommitMarker(this.log, H_SYNC_MARKER);
      // The sync marker says everything decided was at or below that index, which holds only if its
      // leader was still current then: a leader that slept through its deposition syncs too. A commit
      // point of the same term past that index proves it was: the term committed an entry written
      // after the sync, and a term commits only with acks that vouch for it (leader.ts, Vouching).
      // (Not one at that index: a term tells its followers the commit point it prepared up to.)
      if (sync !== null && sync.proposal === this.pump.markerProposal && this.pump.commitKnown > sync.commitIndex && this.pump.appliedIndex >= sync.commitIndex) {
        this.becomeVoter(`synced by the leader up to index ${sync.commitIndex}: a voter again`);
      }
    }
    if (!this.pumpStartedLogged && this.pump.markerProposal > 0 && this.pump.appliedIndex >= this.pump.commitKnown) {
      this.pumpStartedLogged = true;
      this.logger.info('Reading pump started');
    }
    return applied >= PUMP_BATCH_ENTRIES;
  }
}
