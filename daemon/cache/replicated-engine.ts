/**
 * ReplicatedEngine: the CacheEngine of a cluster node. Writes become effects that Mu commits to a
 * majority before anyone sees them; every node (leader included) applies committed effects in log
 * order through the reading pump (`applyEntry`).
 *
 * Invariants:
 * - The store holds committed effects only: reads never see an effect that is not committed.
 * - A write is answered only after its entry is applied on this node (read-your-writes on the
 *   node the client talks to, leader or follower).
 * - On the leader, decisions read committed state plus our effects still in flight (PendingOverlay);
 *   a decision with no effect is answered only after an empty entry proposed behind it commits
 *   (proof that we still lead and that the in-flight state it read is decided).
 * - A follower never decides: it forwards the operation to the leader, tagged, and the leader records
 *   the tag with the result in the write's entry; a forward whose fate is unknown (the leader died
 *   or was deposed mid-write) is sent again with its tag and answered exactly once (outcomes.ts).
 * - Group commit: the writes decided in one turn of the event loop are proposed as one entry.
 * - Pushback: the leader has at most `maxInFlightProposals` entries (and `maxInFlightBytes` of
 *   payload, one entry always fits) proposed and not yet applied. Later writes wait, in arrival
 *   order and undecided, until their deadline, then fail with a SERVER_ERROR (nothing applied).
 * - Lost lead: a write of our own clients whose entry was in flight when we lost the lead gets the
 *   answer its entry's fate gives (lost-entries.ts): committed after all, its result; never to be
 *   committed, it is decided again wherever the lead is now (it took no effect); unknown by its
 *   deadline, "outcome unknown". Until then fences sent to the leader move the log past it.
 * - Deadline: a write gets one deadline where a client sent it (`leaderWaitMs` from then) and keeps
 *   it through every wait, retry and forward (the leader is told it). Past it nothing of the write
 *   is proposed any more, so a write a client gave up on cannot take effect long after: whatever
 *   was proposed in time commits, or is dropped, within one take-over.
 *   Connections stop reading while their replies are pending, so the waiting list is bounded by
 *   the clients, and nothing queues without bound inside mu-core.
 */
import type { CommandCounters } from '../context';
import { CachePolicy, Decider, Limits } from './decide';
import { withDeadline } from './deadline';
import { decodeEntry, effectsBytes, encodeEffects, MAX_EFFECTS_PER_ENTRY, outcomeBytes, STAMP_BYTES } from './effect-codec';
import type { Effect } from './effects';
import { LocalEngine, unixNowSec } from './engine';
import { LeaderWait } from './leader-wait';
import { LostEntries, LostFate } from './lost-entries';
import { OutcomeRecord, outcomeRecord, OutcomeTable, TagSource, WriteTag } from './outcomes';
import { PendingOverlay } from './pending-overlay';
import { ReadIndexBarrier } from './read-barrier';
import type { CacheEngine, ItemView, MetaGetResult, WriteOp, WriteResultFor } from './types';

/** The part of a Mu node the engine uses (mu-core's MuNode provides it). */
export interface ReplicationLog {
  readonly role: 'leader' | 'follower' | 'candidate';
  readonly leaderId: number | null;
  readonly maxPayloadBytes: number;
  /** Leader only: the log index the current term began at; nothing is decided before it is applied. */
  readonly termStartIndex?: number;
  propose(payload: Buffer): Promise<number>;
}

export interface ForwardedResult<R = unknown> {
  result: R;
  /** Log index holding the write's effects; 0 when it had none. */
  index: number;
}

/** Carries an operation from a follower to the leader and its result back. */
export interface WriteForwarder {
  /**
   * `deadlineMs` (Date.now() clock): the leader proposes nothing of `op` after it. Rejects with
   * `retryable` (the leader provably did not apply it) or `outcomeUnknown` (it may have) set when so.
   */
  forward(leaderId: number, op: WriteOp, deadlineMs: number, tag: WriteTag): Promise<ForwardedResult>;
}

/** Marks on errors crossing the forwarding path; `fate`: a lost entry's (see LostEntries). */
type ForwardError = Error & { code?: string; retryable?: boolean; outcomeUnknown?: boolean; fate?: Promise<LostFate>; entryIndex?: number };

/** A write whose fate could not be learnt before its deadline. */
export class OutcomeUnknownError extends Error {
  readonly outcomeUnknown = true;
}

export interface ReplicatedEngineOptions extends Limits, CachePolicy {
  selfId: number;
  counters?: CommandCounters;
  clockSec?: () => number;
  /**
   * A write's deadline, from when a client sent it: how long it may wait for a leader, for room in
   * the backlog or for the leader's answer before failing with a clear SERVER_ERROR.
   */
  leaderWaitMs: number;
  /** Where the engine's warnings go (the outcome table overflowing, outcomes.ts). */
  warn?: (message: string) => void;
  /** Called once per write with its replication latency (propose to applied), in ns. */
  onReplicated?: (latencyNs: number) => void;
  /** Our proposals not yet applied, at most (default DEFAULT_MAX_IN_FLIGHT_PROPOSALS). */
  maxInFlightProposals?: number;
  /** Payload bytes of our proposals not yet applied, at most (default DEFAULT_MAX_IN_FLIGHT_BYTES). */
  maxInFlightBytes?: number;
}

export const DEFAULT_MAX_IN_FLIGHT_PROPOSALS = 1024;
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** Bytes every entry carries besides its effects and outcomes: the 2-byte count and our stamp. */
const ENTRY_OVERHEAD_BYTES = 2 + STAMP_BYTES;
/** Outcomes of forwarded writes kept, at most (each a few dozen bytes plus the result). */
const MAX_OUTCOME_RECORDS = 250_000;

export class BacklogFullError extends Error {
  constructor(waitedMs: number) {
    super(`replication backlog full for ${waitedMs} ms; write not applied`);
  }
}

export class NoLeaderError extends Error {
  constructor(waitedMs: number) {
    super(`no leader elected within ${waitedMs} ms; write not applied`);
  }
}

/** The deadline passed before the write was decided: nothing of it was (or will be) proposed. */
export class WriteDeadlineError extends Error {
  readonly code = 'WriteDeadline';
  constructor(waitMs: number, why: string) {
    super(`${why}: write not applied within its ${waitMs} ms deadline`);
  }
}

interface Waiter {
  index: number;
  resolve: () => void;
}

/** Effects of writes decided in this turn, not yet proposed: they become one entry. */
interface ProposalGroup {
  effects: Effect[];
  /**
   * The map id of each effect's key ('' for a flush), made once by the overlay: the same strings key
   * the overlay and the store, so neither converts the key again nor hashes a new string.
   */
  ids: string[];
  /** Results of tagged (forwarded) writes among them, recorded with the effects. */
  outcomes: OutcomeRecord[];
  /** Encoded size of `effects` and `outcomes` (the entry's 2-byte count aside). */
  bytes: number;
  /** How many writes joined. */
  writes: number;
  /**
   * Every write of the group waits on this one promise (its entry's index once applied here, or why
   * not): one settlement per entry instead of a promise and two resolving functions per write.
   */
  settled: Promise<number>;
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  /** inFlightGeneration when the group opened: a drop since then voids its decisions. */
  generation: number;
}

/** A write waiting for room among the proposals in flight; not decided yet. */
interface Admission {
  op: WriteOp;
  deadlineMs: number;
  tag: WriteTag | undefined;
  resolve: (r: ForwardedResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ReplicatedEngine implements CacheEngine {
  /** Reads, limits and stats come from a local engine over the committed store. */
  readonly local: LocalEngine;
  private readonly overlay: PendingOverlay;
  private readonly decider: Decider;
  private appliedIndex = 0;
  /** Bumped whenever in-flight state is dropped: verdicts read from it are void. */
  private inFlightGeneration = 0;
  private waiters: Waiter[] = [];
  /**
   * Our proposals not yet applied, in log order, to recognise them in applyEntry, with the effects
   * they encode: our own entry is applied from those, not decoded again from the slot.
   */
  private readonly inFlight: Array<{ payload: Buffer; effects: Effect[]; ids: string[]; outcomes: OutcomeRecord[] }> = [];
  private inFlightBytes = 0;
  /** Writes waiting for room in flight, in arrival order. */
  private readonly admission: Admission[] = [];
  /** Writes that arrived while a flush was in flight: decided once it is applied. */
  private readonly barrierQueue: Array<() => void> = [];
  /** This turn's writes, proposed together when the turn ends (sealGroup). */
  private group: ProposalGroup | null = null;
  private log: ReplicationLog | null = null;
  private forwarder: WriteForwarder | null = null;
  /** Tags of the writes this node forwards, and the outcomes of everyone's (outcomes.ts). */
  private readonly tags: TagSource;
  readonly outcomes: OutcomeTable;
  /** Forwards sent again because the first try's fate was unknown; copies answered without a new decision. */
  readonly forwardCounts = { resent: 0, answeredFromRecord: 0, joinedInFlight: 0 };
  /** Our entries undecided when we lost the lead, until the pump tells their fate. */
  private readonly lost = new LostEntries();
  /** Our clients' writes in such entries, by the answer they got. */
  readonly lostWriteCounts = { applied: 0, decidedAgain: 0, unknown: 0 };
  /** Fences are being sent (see fenceLostEntries) until this time, while lost entries wait. */
  private fenceUntilMs = 0;
  /** The latest decision time among the entries applied (their puts' storedAtSec): removalClockSec on a follower. */
  private logClockSec = 0;
  private fencing = false;
  /** `--reads linearizable`: what a read waits for before it reads this node's copy (read-barrier.ts). */
  readonly reads: ReadIndexBarrier;
  /** Writes waiting for a leader to be known, released in arrival order. */
  private readonly leaderWait = new LeaderWait(() => {
    const log = this.requireLog();
    return log.role === 'leader' || (log.leaderId !== null && log.leaderId !== this.options.selfId);
  });

  constructor(private readonly options: ReplicatedEngineOptions) {
    this.tags = new TagSource(options.selfId);
    // Longer than any write's deadline (a retry never outlives the record of its first try).
    this.outcomes = new OutcomeTable(2 * options.leaderWaitMs + 1000, MAX_OUTCOME_RECORDS, undefined, options.warn);
    this.local = new LocalEngine(options);
    const clockSec = options.clockSec ?? unixNowSec;
    this.overlay = new PendingOverlay(this.local.store, clockSec, options.evictions === false);
    // A dead item is taken out by the clock of whoever decides: the leader's own once it applied
    // everything before its term, otherwise the time of the latest decision applied (an earlier
    // decision, such as a touch of the item while it lived, is then applied already: entries apply
    // in the order they were decided).
    this.local.store.removalClockSec = () => {
      const log = this.log;
      return log !== null && log.role === 'leader' && this.appliedIndex >= (log.termStartIndex ?? 0) ? clockSec() : this.logClockSec;
    };
    this.decider = new Decider(this.overlay, options, clockSec);
    this.reads = new ReadIndexBarrier({ fence: (deadlineMs) => this.fence(deadlineMs), whenApplied: (index) => this.whenApplied(index) }, options.leaderWaitMs);
  }

  /** Wiring happens after construction: the Mu node needs `applyEntry` as its entry handler. */
  attach(log: ReplicationLog, forwarder: WriteForwarder): void {
    this.log = log;
    this.forwarder = forwarder;
  }

  get store() {
    return this.local.store;
  }

  /** A write this node leads is in flight for the key with this id (the crawler leaves its item). */
  isPending(id: string): boolean {
    return this.overlay.isPending(id);
  }

  /** Nothing of ours is in flight. */
  get idle(): boolean {
    return this.group === null && this.inFlight.length === 0 && this.barrierQueue.length === 0 && this.admission.length === 0;
  }

  /** Pushback counters: our proposals not yet applied, their bytes, writes waiting for room. */
  get backlog(): { inFlight: number; inFlightBytes: number; waiting: number } {
    return { inFlight: this.inFlight.length, inFlightBytes: this.inFlightBytes, waiting: this.admission.length };
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get(key: Buffer, bump = true): ItemView | undefined {
    return this.local.get(key, bump);
  }

  peek(key: Buffer): ItemView | undefined {
    return this.local.peek(key);
  }

  get casEnabled(): boolean {
    return this.local.casEnabled;
  }

  /** `cache_memlimit` on this node: evictions and -M decisions are each node's own. */
  setMemoryLimit(bytes: number): void {
    this.local.setMemoryLimit(bytes);
  }

  maxValueBytes(keyBytes: number, flags: number): number {
    return this.local.maxValueBytes(keyBytes, flags);
  }

  mutate<O extends WriteOp>(op: O): Promise<WriteResultFor<O>> {
    return this.execute(op).then(resultOf) as Promise<WriteResultFor<O>>;
  }

  /**
   * Run `op` and report where its effects sit in the log (the leader's side of forwarding): decided
   * here while we lead, else forwarded (with its tag: a new one for a write of our clients).
   * `deadlineMs` (Date.now() clock) is the write's deadline; a new write gets `leaderWaitMs`.
   * Every retry inside the engine comes back here with the same deadline and tag.
   */
  execute(op: WriteOp, deadlineMs = Date.now() + this.options.leaderWaitMs, tag?: WriteTag): Promise<ForwardedResult> {
    if (this.requireLog().role === 'leader') return this.decideAsLeader(op, deadlineMs, false, tag);
    return this.forwardToLeader(op, deadlineMs, tag ?? this.tags.next(), false);
  }

  /** `unresolved`: an earlier try's fate is unknown (so a deadline error may not say "not applied"). */
  private forwardToLeader(op: WriteOp, deadlineMs: number, tag: WriteTag, unresolved: boolean): Promise<ForwardedResult> {
    const log = this.requireLog();
    if (log.role === 'leader') {
      // We lead now and decide it ourselves; should we lose the lead with it in flight, the tag
      // lets the next leader tell, as for any forward.
      return this.decideAsLeader(op, deadlineMs, false, tag).catch((err: ForwardError) => {
        if (!err.outcomeUnknown || Date.now() >= deadlineMs) throw err;
        this.forwardCounts.resent++;
        return delay(2).then(() => this.forwardToLeader(op, deadlineMs, tag, true));
      });
    }
    const leader = log.leaderId;
    if (leader === null || leader === this.options.selfId) {
      // Mid-election: wait (bounded) instead of failing at once.
      if (Date.now() >= deadlineMs) {
        return Promise.reject(unresolved ? this.unknownOutcome('no leader elected to ask') : new NoLeaderError(this.options.leaderWaitMs));
      }
      return this.leaderWait.next(deadlineMs).then(() => this.forwardToLeader(op, deadlineMs, tag, unresolved));
    }
    return this.forwarder!.forward(leader, op, deadlineMs, tag).then(
      (answer) => this.whenApplied(answer.index).then(() => answer),
      (err: ForwardError) => {
        // Retryable: the leader provably never got it (nothing of it was applied). Outcome unknown:
        // it may have been; sending the same tag again learns which, and never applies it twice.
        if (!err.retryable && !err.outcomeUnknown) throw err;
        const stillUnresolved = unresolved || err.outcomeUnknown === true;
        if (Date.now() < deadlineMs) {
          if (err.outcomeUnknown === true) this.forwardCounts.resent++;
          const retry = () => this.forwardToLeader(op, deadlineMs, tag, stillUnresolved);
          // Another leader is known by now (a dead leader's link fails only once its process is torn
          // down, milliseconds after the election): ask it at once. The same leader (a link that
          // dropped while it still leads, or its death not yet seen): after a pause.
          const now = this.requireLog();
          if (now.role === 'leader' || (now.leaderId !== null && now.leaderId !== leader && now.leaderId !== this.options.selfId)) return retry();
          return delay(2).then(retry);
        }
        if (stillUnresolved) throw this.unknownOutcome(err.message);
        throw new WriteDeadlineError(this.options.leaderWaitMs, `leader ${leader} unreachable (${err.message})`);
      },
    );
  }

  private unknownOutcome(why: string): OutcomeUnknownError {
    return new OutcomeUnknownError(`the leader was lost while it held this write, and no leader could tell within the ${this.options.leaderWaitMs} ms deadline whether it was applied (${why}); outcome unknown`);
  }

  private decideAsLeader(op: WriteOp, deadlineMs: number, admitted = false, tag?: WriteTag): Promise<ForwardedResult> {
    // A new leader's cache lacks the entries committed or adopted before its term: it waits for them
    // (deciding an incr or cas against the older cache answered from a value already overwritten),
    // and only then does its outcome table hold every tag its predecessors committed.
    const termStart = this.requireLog().termStartIndex ?? 0;
    const predecessorsApplied = this.appliedIndex >= termStart;
    if (tag !== undefined && predecessorsApplied) {
      // A retry of a forwarded write whose first try committed gets that try's answer, even late.
      const known = this.outcomes.lookup(tag);
      if (known !== undefined) {
        this.forwardCounts.answeredFromRecord++;
        return Promise.resolve(known);
      }
    }
    if (Date.now() >= deadlineMs) {
      return Promise.reject(tag === undefined || predecessorsApplied
        ? new WriteDeadlineError(this.options.leaderWaitMs, 'leader busy or changing')
        : this.unknownOutcome('the new leader had not applied its predecessor\'s entries yet'));
    }
    if (!predecessorsApplied) {
      return this.untilDeadline(this.whenApplied(termStart), deadlineMs, 'new leader still applying its predecessor\'s entries')
        .then(() => this.execute(op, deadlineMs, tag), (err: Error) => {
          throw tag === undefined ? err : this.unknownOutcome(err.message);
        });
    }
    if (!admitted && (this.admission.length > 0 || this.inFlightFull())) return this.waitForRoom(op, deadlineMs, tag);
    if (this.overlay.flushInFlight > 0 || this.barrierQueue.length > 0) {
      return new Promise((resolve, reject) => {
        this.barrierQueue.push(() => this.execute(op, deadlineMs, tag).then(resolve, reject));
      });
    }
    if (tag !== undefined) {
      // Several copies of one forwarded write can reach us (the sender's retry, and a node that
      // relayed the first try while it followed): whichever decides first is the only decision
      // here; the others get its answer. Checked at the moment of deciding, on every path to it.
      const running = this.outcomes.inFlight(tag);
      if (running !== undefined) {
        this.forwardCounts.joinedInFlight++;
        return running;
      }
      // Refused before anything was written: no longer a decision here (decideOnce let go of it);
      // decide it again wherever the lead is now (copies that joined get that answer too). Lost
      // with the term: it may commit under the next leader, and the tag makes sending it again
      // safe, so whoever holds it (this node's forward, or a follower's) sends it again.
      return this.outcomes.decideOnce(tag, () => this.decideNow(op, deadlineMs, tag), (err: ForwardError) => {
        if (err.code === 'NotLeader') return delay(1).then(() => this.execute(op, deadlineMs, tag));
        if (err.code === 'LostLeadership') throw Object.assign(new Error(err.message), { code: err.code, outcomeUnknown: true });
        throw err;
      });
    }
    return this.decideNow(op, deadlineMs, undefined);
  }

  /** Decides `op` against committed and in-flight state and proposes its effects (no more waits). */
  private decideNow(op: WriteOp, deadlineMs: number, tag: WriteTag | undefined): Promise<ForwardedResult> {
    const { result, effects } = this.decider.decide(op);
    if (effects.length === 0 && tag === undefined) {
      // A verdict that changes nothing (NOT_FOUND, EXISTS, NOT_STORED...) is only true if this node
      // still leads when it is given: a leader cut off from its followers, not yet aware of it,
      // would answer from stale state. An empty entry, committed after everything in flight, proves
      // both our leadership and the in-flight state the verdict read. If it fails, the verdict is
      // void and the write (which changed nothing) is decided again, here or by the new leader.
      // (A forwarded write's entry is never empty: it records the verdict, and proves the same.)
      const generation = this.inFlightGeneration;
      return this.propose([]).then(
        (index) => (this.inFlightGeneration === generation ? { result, index } : this.execute(op, deadlineMs)),
        (err: Error & { code?: string }) => {
          if (err.code === 'LostLeadership' || err.code === 'NotLeader') return this.execute(op, deadlineMs);
          throw err;
        },
      );
    }
    // A forwarded write's result goes into the entry with its effects: it commits (and then answers
    // every retry of the write) or not at all.
    return this.propose(effects, tag === undefined ? undefined : outcomeRecord(tag, result)).then(
      (index) => this.committedAnswer(op, result, index),
      (err: ForwardError) => {
        // Refused before anything was written (we stopped leading, or hand the lead to a lower
        // node): decide it again wherever the lead is now, within its deadline. (A tagged write
        // is re-routed by decideAsLeader, once its decision here is let go of: its tag tells.)
        if (err.code === 'NotLeader' && tag === undefined) return delay(1).then(() => this.execute(op, deadlineMs));
        if (err.fate !== undefined && tag === undefined) return this.afterLostLead(op, deadlineMs, result, err);
        throw err;
      },
    );
  }

  /**
   * Our write `op`, decided as `result`, was in an entry still undecided when we lost the lead: its
   * answer is the entry's fate, learnt by the deadline (fences move the log on meanwhile).
   */
  private afterLostLead(op: WriteOp, deadlineMs: number, result: unknown, err: ForwardError): Promise<ForwardedResult> {
    this.fenceLostEntries(deadlineMs);
    return this.untilDeadline(err.fate!, deadlineMs, 'its entry still undecided').then(
      (fate) => {
        if (fate === 'applied') {
          this.lostWriteCounts.applied++;
          return this.committedAnswer(op, result, err.entryIndex ?? 0);
        }
        if (fate === 'not-applied') {
          // Nothing of it took effect, and nothing ever will: it is a new write again.
          this.lostWriteCounts.decidedAgain++;
          return this.execute(op, deadlineMs);
        }
        this.lostWriteCounts.unknown++;
        throw this.unknownOutcome('lost the lead with it in flight, and a snapshot was installed over its entry');
      },
      () => {
        this.lostWriteCounts.unknown++;
        throw this.unknownOutcome('lost the lead with it in flight, and its entry was still undecided');
      },
    );
  }

  /**
   * While our lost entries wait for their fate and a write waits on one, make the log move past
   * them: a fence (an entry that changes nothing) through whoever leads, over and over until the
   * pump has passed the highest of them or the latest waiting deadline passes. Ordinary writes move
   * the log too; a quiet cluster would otherwise leave them waiting until their deadline.
   */
  private fenceLostEntries(deadlineMs: number): void {
    if (deadlineMs > this.fenceUntilMs) this.fenceUntilMs = deadlineMs;
    if (this.fencing) return;
    this.fencing = true;
    const next = (): void => {
      if (this.lost.size === 0 || Date.now() >= this.fenceUntilMs) {
        this.fencing = false;
        return;
      }
      // Paced: a fence applied with lost entries still beyond it is followed by the next a
      // millisecond later (the leader's log is that far behind), not by a loop of round trips.
      const until = this.fenceUntilMs;
      this.fence(until).then((index) => this.untilDeadline(this.whenApplied(index), until, 'fence not applied'))
        .then(() => delay(1).then(next), () => delay(2).then(next));
    };
    next();
  }

  /** One empty entry at the leader (here, if we lead); resolves with its index. */
  private fence(deadlineMs: number): Promise<number> {
    const log = this.requireLog();
    if (log.role === 'leader') return this.propose([]);
    const leader = log.leaderId;
    if (leader === null || leader === this.options.selfId) return Promise.reject(new Error('no leader to fence through'));
    return this.forwarder!.forward(leader, { op: 'fence' }, deadlineMs, this.tags.next()).then((a) => a.index);
  }

  /**
   * Group commit: `effects` join this turn's group, and every write decided before the turn ends
   * goes into one entry, so one log slot carries the writes of many connections: the slot writes,
   * completions, checksums and commit of an entry are paid once per group, not once per write
   * (16 connections of sets on shm: about 9 writes per entry). Resolves with the entry's index once
   * it is applied here.
   */
  private propose(effects: Effect[], outcome?: OutcomeRecord): Promise<number> {
    const log = this.requireLog();
    const bytes = effectsBytes(effects) + (outcome === undefined ? 0 : outcomeBytes(outcome));
    if (ENTRY_OVERHEAD_BYTES + bytes > log.maxPayloadBytes) {
      return Promise.reject(new Error(`entry of ${ENTRY_OVERHEAD_BYTES + bytes} bytes exceeds the log entry limit (${log.maxPayloadBytes}); raise the log size`));
    }
    const open = this.group;
    const records = outcome === undefined ? 0 : 1;
    if (open !== null && (ENTRY_OVERHEAD_BYTES + open.bytes + bytes > log.maxPayloadBytes || open.effects.length + open.outcomes.length + effects.length + records + 1 > MAX_EFFECTS_PER_ENTRY)) this.sealGroup();
    const group = this.group ?? this.openGroup();
    this.overlay.propose(effects, group.ids);
    for (const e of effects) group.effects.push(e);
    if (outcome !== undefined) group.outcomes.push(outcome);
    group.bytes += bytes;
    group.writes++;
    return group.settled;
  }

  /** A new group, sealed when this turn of the event loop ends (or sooner, when full). */
  private openGroup(): ProposalGroup {
    let resolve!: (index: number) => void;
    let reject!: (err: Error) => void;
    const settled = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const group: ProposalGroup = { effects: [], ids: [], outcomes: [], bytes: 0, writes: 0, settled, resolve, reject, generation: this.inFlightGeneration };
    this.group = group;
    setImmediate(() => this.sealGroup());
    return group;
  }

  /** Proposes the open group as one entry; its writes settle together. */
  private sealGroup(): void {
    const g = this.group;
    if (g === null) return;
    this.group = null;
    if (g.generation !== this.inFlightGeneration) {
      // Leadership was lost since these writes were decided (their overlay is gone): propose nothing.
      const err = Object.assign(new Error('leadership changed before the write was proposed; write not applied'), { code: 'NotLeader' });
      g.reject(err);
      return;
    }
    // The stamp makes the entry ours alone, byte for byte (what LostEntries compares).
    const payload = encodeEffects(g.effects, g.outcomes, this.tags.next());
    this.inFlight.push({ payload, effects: g.effects, ids: g.ids, outcomes: g.outcomes });
    this.inFlightBytes += payload.length;
    const startedNs = process.hrtime.bigint();
    this.requireLog().propose(payload).then(
      (index) => this.whenApplied(index).then(() => {
        const ns = Number(process.hrtime.bigint() - startedNs);
        for (let k = 0; k < g.writes; k++) this.options.onReplicated?.(ns);
        g.resolve(index);
      }),
      (err: ForwardError) => {
        // What was in flight may or may not commit under the next leader: decide nothing from it.
        this.overlay.clear();
        this.dropInFlight();
        let reason: ForwardError = err;
        if (err.code === 'LostLeadership') {
          // The pump will tell whether it was committed after all (mu-core names its index).
          const entryIndex = typeof err.entryIndex === 'number' ? err.entryIndex : 0;
          reason = Object.assign(new Error(err.message), { code: err.code, entryIndex, fate: this.lost.watch(entryIndex, payload, this.appliedIndex) });
        }
        g.reject(reason);
      },
    );
  }

  /** The reading pump's handler: entry `index` is committed; apply it. Called in index order. */
  applyEntry(index: number, payload: Buffer): void {
    if (this.lost.size > 0) this.lost.delivered(index, payload);
    // Ours when it is byte for byte the oldest proposal in flight (entries apply in log order).
    // (The pump hands our own Buffer back for an entry in parts: no need to compare megabytes.)
    const head = this.inFlight.length > 0 ? this.inFlight[0].payload : null;
    const ours = head !== null && (head === payload || head.equals(payload)) ? this.inFlight.shift()! : null;
    const { effects, outcomes } = ours !== null ? ours : decodeEntry(payload);
    for (const e of effects) if (e.kind === 'put' && e.storedAtSec > this.logClockSec) this.logClockSec = e.storedAtSec;
    this.local.applyAll(effects, ours?.ids);
    if (outcomes.length > 0) this.outcomes.record(outcomes, index);
    if (ours !== null) {
      this.inFlightBytes -= ours.payload.length;
      this.overlay.settle(effects, ours.ids);
    }
    this.appliedIndex = index;
    this.release();
    if (this.overlay.flushInFlight === 0 && this.barrierQueue.length > 0) {
      const queued = this.barrierQueue.splice(0);
      for (const run of queued) run();
    }
    this.admitWaiting();
  }

  /**
   * The pump passed `index` without an entry for us (a no-op, an abandoned entry in parts). Nothing
   * to apply, but the position counts: a new leader waits to have applied up to its term start, and
   * an adopted tail that ends in such a slot would otherwise keep every write waiting for an entry
   * that only a write could bring.
   */
  passedIndex(index: number): void {
    if (this.lost.size > 0) this.lost.delivered(index, null);
    if (index <= this.appliedIndex) return;
    this.appliedIndex = index;
    this.release();
    this.admitWaiting();
  }

  /** State transfer installed everything up to `index`. */
  installedUpTo(index: number): void {
    this.lost.jumped(index);
    if (index > this.appliedIndex) this.appliedIndex = index;
    this.overlay.clear();
    this.dropInFlight();
    this.release();
  }

  private inFlightFull(): boolean {
    const n = this.inFlight.length;
    if (n === 0) return false;
    return n >= (this.options.maxInFlightProposals ?? DEFAULT_MAX_IN_FLIGHT_PROPOSALS)
      || this.inFlightBytes >= (this.options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES);
  }

  private waitForRoom(op: WriteOp, deadlineMs: number, tag: WriteTag | undefined): Promise<ForwardedResult> {
    const startedMs = Date.now();
    return new Promise((resolve, reject) => {
      const entry: Admission = {
        op, deadlineMs, tag, resolve, reject,
        timer: setTimeout(() => {
          const at = this.admission.indexOf(entry);
          if (at >= 0) this.admission.splice(at, 1);
          reject(new BacklogFullError(Date.now() - startedMs));
        }, Math.max(0, deadlineMs - startedMs)),
      };
      this.admission.push(entry);
    });
  }

  /** Room in flight (an entry applied, or the in-flight set dropped): decide waiting writes in order. */
  private admitWaiting(): void {
    while (this.admission.length > 0 && !this.inFlightFull()) {
      const next = this.admission.shift()!;
      clearTimeout(next.timer);
      // Leadership may have moved while it waited: route it like a new write, minus the queue.
      let run: Promise<ForwardedResult>;
      try {
        run = this.requireLog().role === 'leader'
          ? this.decideAsLeader(next.op, next.deadlineMs, true, next.tag)
          : this.forwardToLeader(next.op, next.deadlineMs, next.tag ?? this.tags.next(), false);
      } catch (err) {
        next.reject(err as Error);
        continue;
      }
      run.then(next.resolve, next.reject);
    }
  }

  private dropInFlight(): void {
    this.inFlightGeneration++;
    this.inFlight.length = 0;
    this.inFlightBytes = 0;
    // Whatever waited for room may go now (as a follower it is forwarded).
    queueMicrotask(() => this.admitWaiting());
  }

  /** The Mu node's role or known leader changed: writes waiting for a leader go now if one is known. */
  leaderChanged(): void {
    this.leaderWait.poke();
  }

  whenApplied(index: number): Promise<void> {
    if (index <= this.appliedIndex) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ index, resolve });
    });
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= this.appliedIndex) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** `wait` (one that never rejects), or a WriteDeadlineError at `deadlineMs`. */
  private untilDeadline<T>(wait: Promise<T>, deadlineMs: number, why: string): Promise<T> {
    return withDeadline(wait, deadlineMs, () => new WriteDeadlineError(this.options.leaderWaitMs, why));
  }

  /** `op`, decided as `result`, committed at `index`: its answer (a vivifying mg has sent its win token). */
  private committedAnswer(op: WriteOp, result: unknown, index: number): ForwardedResult {
    if (op.op === 'metaGet' && (result as MetaGetResult).vivified) this.local.store.markVivified(op.key);
    return { result, index };
  }

  private requireLog(): ReplicationLog {
    if (this.log === null) throw new Error('replicated engine used before it was attached to its log');
    return this.log;
  }
}

/** A forwarded result's answer to the client (one function for every write: no closure each). */
function resultOf(r: ForwardedResult): unknown {
  return r.result;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { ItemView };
