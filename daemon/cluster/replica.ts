/**
 * One node of a replicated cluster: its fabric, its Mu node, the replicated engine that turns
 * commands into effects, and the peer links that carry forwarded writes and snapshots.
 * This is wiring only: mu-core decides, the fabric moves bytes, the engine applies.
 */
import type { Fabric, FabricOptions, PeerAddress } from '../../binding/fabric';
import { defaultConfig, MuConfig } from '../../mu-core/config';
import { MuNode } from '../../mu-core/node';
import { RealScheduler } from '../../mu-core/scheduler';
import { slotCountFor } from '../../mu-core/layout';
import type { CommandCounters } from '../context';
import type { Effect } from '../cache/effects';
import { ReplicatedEngine, WriteForwarder } from '../cache/replicated-engine';
import type { WriteOp } from '../cache/types';
import { isWriteTag, SnapshotOutcome } from '../cache/outcomes';
import type { ClusterConfig, NodeEntry } from '../cluster-config';
import type { Logger } from '../log';
import { SnapshotStaging } from './snapshot-staging';
import { ForwardsInFlight } from './forwards';
import { LinkWarmer } from './link-warmer';
import { PeerDialer, PeerLinkError, PeerListener } from './peer-link';
import * as hdr from 'hdr-histogram-js';

export interface ReplicaOptions {
  config: ClusterConfig;
  self: NodeEntry;
  memoryLimitBytes: number;
  itemSizeMaxBytes: number;
  counters: CommandCounters;
  log: Logger;
  /** Writes wait this long for a leader during an election before failing. */
  leaderWaitMs?: number;
  /**
   * memcached's -M (false) and -C (false). Every node of a cluster should run with the same: the
   * leader decides with its own, and every node sizes the items it applies with its own -C.
   */
  evictions?: boolean;
  casEnabled?: boolean;
  /** Stores the leader refused for memory (-M), by item size (stats items). */
  onOutOfMemory?: (itemBytes: number) => void;
  /** This node ran in the cluster before (membership-mark.ts); undefined: not known. */
  startedBefore?: boolean;
}

const DEAD_AFTER_SCANS = 20;

/** How much longer than a forwarded write's deadline its sender waits for the answer. */
const FORWARD_ANSWER_GRACE_MS = 1000;

/** The outcome records of a snapshot part; a malformed one throws (the part is refused). */
function snapshotOutcomes(v: unknown): SnapshotOutcome[] {
  if (v === undefined) return [];
  const ok = Array.isArray(v) && v.every((r) => r !== null && typeof r === 'object' && isWriteTag(r.tag) && Buffer.isBuffer(r.result) && Number.isInteger(r.index));
  if (!ok) throw new Error('snapshot part with malformed outcome records');
  return v as SnapshotOutcome[];
}

/** A forwarded write's deadline on our clock: the sender's, never later than its time left from now. */
function forwardedDeadline(req: Record<string, unknown>): number | undefined {
  const at = req.deadlineAtMs;
  const budget = req.budgetMs;
  if (typeof at !== 'number' || typeof budget !== 'number' || !Number.isFinite(at) || !Number.isFinite(budget) || budget < 0) return undefined;
  return Math.min(at, Date.now() + budget);
}

/** Slot size of the daemons' logs: a small entry (a few writes) fits one; a larger one goes in parts. */
export const DAEMON_SLOT_BYTES = 4096;

/**
 * The ring for a log of about `logBytes` whose largest entry is one item (-I) plus the effect
 * framing: a multi-slot entry may take half the ring (mu-core/layout.ts), so the ring grows past
 * `logBytes` only for an -I that large. Small slots make many of them: at -I 1m an 8 MiB log has 2048
 * slots, where one item per slot gave 16, which followers fell out of under a few thousand writes
 * per second (each fall-out costs a whole-store snapshot).
 */
export function daemonRing(logBytes: number, itemSizeMaxBytes: number): { slotBytes: number; slotCount: number } {
  const slotBytes = DAEMON_SLOT_BYTES;
  const slotCount = Math.max(Math.floor(logBytes / slotBytes), slotCountFor(itemSizeMaxBytes + 1024, slotBytes));
  return { slotBytes, slotCount };
}

export function muConfigFor(kind: 'shm' | 'tcp' | 'verbs', itemSizeMaxBytes: number): MuConfig {
  const base = defaultConfig(kind);
  // 8 MiB of ring per node. (A take-over used to read the granting peers' whole logs, hence the small
  // size; it now reads only the run past its applied index, mu-core/log-reader.ts.)
  const slots = { ...daemonRing(8 * 1024 * 1024, itemSizeMaxBytes), maxBatchSlots: base.maxBatchSlots };
  if (kind === 'tcp') {
    // The same relaxed timings as shm (below), keeping tcp's short busy-poll after each burst of
    // work (answers arrive on the NIC thread, microseconds after a post). tcp keeps its logs near
    // 4 MiB (1024 slots at -I 1m): when a take-over read whole logs, 64 MiB of them kept two cores
    // busy for longer than the ~100 ms a node may stay silent. Take-overs now read only the run past
    // the candidate's applied index, but a follower's catch-up still copies up to a ring.
    const tcpRing = daemonRing(4 * 1024 * 1024, itemSizeMaxBytes);
    // A control read failing as unreachable (a connection being made, or lost without an answer) is
    // stronger evidence than a silent scan: it counts for a third of the fuse, while a slow read
    // counts one scan. A refused or reset connection (the peer's NIC is gone) fails as 'gone', the
    // whole fuse at once (mu-core background.ts).
    return {
      ...muConfigFor('shm', itemSizeMaxBytes),
      ...tcpRing,
      completionBusyPollMs: base.completionBusyPollMs,
      unreachableMissScans: Math.ceil(DEAD_AFTER_SCANS / 3),
    };
  }
  return {
    ...base,
    ...slots,
    // The daemon shares its event loop (and, in tests, a small machine) with its clients: a peer is
    // declared dead after DEAD_AFTER_SCANS silent scans (~100 ms), not after an event-loop stall of a
    // few milliseconds, and nothing spins.
    heartbeatIntervalMs: Math.max(base.heartbeatIntervalMs, 2),
    scanIntervalMs: Math.max(base.scanIntervalMs, 5),
    scoreMax: DEAD_AFTER_SCANS + 2,
    scoreDeadAt: 2,
    // On shm, 'unreachable' means the peer is not connected (a dead owner fails as 'gone'): dead at once.
    unreachableMissScans: DEAD_AFTER_SCANS,
    scoreAliveAt: 6,
    permissionRetryMs: Math.max(base.permissionRetryMs, 20),
    // Sub-millisecond delays poll from setImmediate (a busy core per node): followers look at their
    // log every millisecond instead, and the leader publishes an idle commit point after 1 ms.
    commitPublishDelayMs: Math.max(base.commitPublishDelayMs, 1),
    pumpIntervalMs: Math.max(base.pumpIntervalMs, 1),
    // An idle node polled its log a thousand times a second (and a leader, whose commits run its
    // pump, always): backing off to 4 ms when nothing arrives cut an idle node's pump timers to
    // ~240/s (its wake-ups from ~1,660/s to ~1,230/s; heartbeats and scans remain) and its CPU from
    // 5.2% to 4.5% of a core. A follower applies the first entry after a quiet spell up to 4 ms later;
    // a forwarded write and a linearizable read are not delayed (the leader's answer runs the pump).
    pumpIdleMaxMs: 4,
  };
}

const SNAPSHOT_BATCH_ITEMS = 512;
const SNAPSHOT_BATCH_OUTCOMES = 4096;
/** Latencies kept for the SIGUSR1 dump (the most recent ones). */
const MAX_LATENCY_SAMPLES = 1_000_000;

export class Replica {
  readonly engine: ReplicatedEngine;
  readonly mu: MuNode;
  private readonly fabric: Fabric;
  private readonly listener: PeerListener;
  private readonly dialers = new Map<number, PeerDialer>();
  /** Links to every member that is up, so a new leader's first forward does not open one. */
  private readonly linkWarmer = new LinkWarmer(this.dialers, (id) => this.fabric.peerState(id) === 'connected');
  /** Forwarded writes still waiting on a leader: given up once another leader is known. */
  private readonly forwards = new ForwardsInFlight(() => this.mu.leaderId, undefined, (id) => this.mu.peerSilent(id));
  private readonly failovers = { seen: 0, lastLeader: null as number | null };
  /** The snapshot transfer being received, staged until its last part. */
  private readonly staging = new SnapshotStaging();
  private readonly sendingSnapshotTo = new Set<number>();
  private transferCount = 0;
  private readonly latencies = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });
  private samples: number[] = [];

  constructor(private readonly opts: ReplicaOptions, openFabric: (o: FabricOptions) => Fabric) {
    const { config, self, log } = opts;
    const secret = config.secret ?? `${config.cluster}-local`;
    this.engine = new ReplicatedEngine({
      selfId: self.id,
      memoryLimitBytes: opts.memoryLimitBytes,
      itemSizeMaxBytes: opts.itemSizeMaxBytes,
      evictions: opts.evictions,
      casEnabled: opts.casEnabled,
      onOutOfMemory: opts.onOutOfMemory,
      counters: opts.counters,
      leaderWaitMs: opts.leaderWaitMs ?? 5000,
      onReplicated: (ns) => this.recordLatency(ns),
      warn: (m) => log.info(`warning: ${m}`),
    });
    this.fabric = openFabric({
      kind: config.fabric.kind,
      selfId: self.id,
      cluster: config.cluster,
      secret: config.secret,
      listenHost: self.host,
      listenPort: self.fabricPort,
      herald: config.fabric.herald,
      shmDir: config.fabric.shmDir,
      device: config.fabric.device,
      gid: config.fabric.gid,
    });
    // On shm a peer is found by its region directory, not by a host name.
    const shmDir = config.fabric.shmDir ?? '/dev/shm';
    const members: PeerAddress[] = config.nodes.map((n) => ({
      peerId: n.id, host: config.fabric.kind === 'shm' ? shmDir : n.host, port: n.fabricPort,
    }));
    this.mu = new MuNode({
      fabric: this.fabric,
      members,
      scheduler: new RealScheduler(),
      logger: { info: (m) => log.info(`mu: ${m}`), warn: (m) => log.info(`mu: warning: ${m}`) },
      config: muConfigFor(config.fabric.kind, opts.itemSizeMaxBytes),
      incarnation: (Math.random() * 0xffffffff) >>> 0,
      startedBefore: opts.startedBefore,
      forceElectionHint: `if those nodes did lose their memory, kill -USR2 ${process.pid} forces this node's election (writes that only they held are then lost)`,
      onEntry: (index, payload) => this.engine.applyEntry(index, payload),
      onSkip: (index) => this.engine.passedIndex(index),
      onLeaderChange: () => {
        this.forwards.leaderChanged();
        this.engine.leaderChanged();
      },
      stateTransfer: {
        sendSnapshot: (peer) => void this.sendSnapshot(peer),
        fetchSnapshot: (peer) => void this.fetchSnapshot(peer),
      },
    });
    for (const n of config.nodes) {
      if (n.id !== self.id) this.dialers.set(n.id, new PeerDialer(self.id, secret, n.host, n.peerPort, 1000, { peerId: n.id, cluster: config.cluster, log }));
    }
    this.listener = new PeerListener(secret, new Set(config.nodes.map((n) => n.id)), (from, req) => this.onPeerRequest(from, req), log, { selfId: self.id, cluster: config.cluster });
    const forwarder: WriteForwarder = {
      // The leader gets the deadline twice: as our clock reads it, and as the time left, so a
      // skewed clock cannot stretch it past the time left from when the leader receives it. We
      // wait a little longer than the deadline for the answer of a write proposed just before it.
      forward: (leaderId, op, deadlineMs, tag) => {
        const budgetMs = Math.max(0, deadlineMs - Date.now());
        const message: Record<string, unknown> = { t: 'op', op, deadlineAtMs: deadlineMs, budgetMs, tag };
        return this.forwards.track(leaderId, this.dialer(leaderId).request(message, budgetMs + FORWARD_ANSWER_GRACE_MS)
          .then((a) => {
            if (typeof a.commitIndex === 'number' && typeof a.proposal === 'number') this.mu.learnCommit(a.commitIndex, a.proposal);
            return { result: a.result, index: Number(a.index) };
          })).catch((err: Error & { outcomeUnknown?: boolean }) => {
            // The link dropped the tag (an older leader keeps no record): sending it again could
            // apply it twice, so its unknown outcome is final.
            if (message.tag === undefined && err.outcomeUnknown) throw Object.assign(new Error(err.message), { outcomeUnknown: false });
            throw err;
          });
      },
    };
    this.engine.attach(this.mu, forwarder);
  }

  async start(): Promise<void> {
    await this.listener.listen(this.opts.self.host, this.opts.self.peerPort);
    this.mu.start();
    this.linkWarmer.start();
  }

  /** Called on every role check: counts leader changes for stats and logs them. */
  noteLeader(): number | null {
    const leader = this.mu.leaderId;
    if (leader !== this.failovers.lastLeader && leader !== null) {
      if (this.failovers.lastLeader !== null) this.failovers.seen++;
      this.failovers.lastLeader = leader;
    }
    return leader;
  }

  get failoversSeen(): number {
    return this.failovers.seen;
  }

  private recordLatency(ns: number): void {
    this.latencies.recordValue(Math.max(1, Math.round(ns)));
    if (this.samples.length >= MAX_LATENCY_SAMPLES) this.samples = this.samples.slice(MAX_LATENCY_SAMPLES / 2);
    this.samples.push(Math.round(ns));
  }

  latencyPercentilesNs(): { count: number; p50: number; p99: number; max: number } {
    const h = this.latencies;
    return { count: h.totalCount, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue };
  }

  latencySamplesNs(): number[] {
    return this.samples;
  }

  peerStates(): Array<[number, string]> {
    return [...this.dialers.keys()].map((id) => [id, this.fabric.peerState(id)]);
  }

  /** tcp: whether `id`'s death herald is connected to us (undefined on fabrics without heralds). */
  heraldConnected(id: number): boolean | undefined {
    return this.opts.config.fabric.kind === 'tcp' ? this.fabric.heraldConnected?.(id) : undefined;
  }

  /** Whether this node's own link to `id` (forwarded writes, snapshots) is open and authenticated. */
  peerLinkUp(id: number): boolean {
    return this.dialers.get(id)?.linked ?? false;
  }

  /**
   * Planned stop (SIGTERM): the client port is already closed; let writes in flight be applied
   * (bounded), then resign from the Mu group: no new proposals, peers read the leaving mark on their
   * next scan and the next node takes over at once (no heartbeat timeout). A leader waits (bounded)
   * until its successor leads, so the mark was read before our regions go; a follower waits a few
   * scans. Writes that followers forwarded to us are answered before the peer links close: one
   * dropped unanswered has an unknown outcome, and its client would get a SERVER_ERROR during a
   * planned restart. Everything stays within the CLI's 2 s forced exit.
   */
  async handOff(log: Logger): Promise<void> {
    /** Polls `done` every millisecond, for at most `ms`. */
    const waitUntil = async (done: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    };
    await waitUntil(() => this.engine.idle, 1000);
    log.info(this.engine.idle ? 'writes in flight applied; resigning' : 'resigning with writes still in flight');
    const wasLeader = this.mu.role === 'leader';
    this.mu.resign();
    const scanMs = muConfigFor(this.opts.config.fabric.kind, this.opts.itemSizeMaxBytes).scanIntervalMs;
    await waitUntil(() => wasLeader && this.mu.successor !== null, wasLeader ? 700 : scanMs * 3);
    const successor = this.mu.successor;
    log.info(!wasLeader ? 'left the group' : successor !== null ? `handed leadership to node ${successor}` : 'no successor took over in time; leaving anyway');
    // Proposed before we resigned: they commit (or fail) within the drain; later ones were refused
    // as NotLeader, which the sender retries with the successor.
    await waitUntil(() => this.listener.unanswered === 0, 200);
    if (this.listener.unanswered > 0) log.info(`${this.listener.unanswered} forwarded requests unanswered at exit`);
    this.stop();
  }

  stop(): void {
    this.linkWarmer.stop();
    this.forwards.close('this node stopped while the write was forwarded to the leader');
    this.mu.stop();
    this.listener.close();
    for (const d of this.dialers.values()) d.close();
    this.fabric.close();
  }

  private dialer(id: number): PeerDialer {
    const d = this.dialers.get(id);
    if (!d) throw new PeerLinkError(`node ${id} is not a member`, false, false);
    return d;
  }

  private async onPeerRequest(from: number, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    switch (req.t) {
      case 'op': {
        try {
          const tag = isWriteTag(req.tag) ? req.tag : undefined;
          const { result, index } = await this.engine.execute(req.op as WriteOp, forwardedDeadline(req), tag);
          // Our commit point rides along: the sender applies the write without waiting for our
          // idle publish and its own pump tick. Only a leader's progress is a commit point.
          const p = this.mu.leaderCommit;
          return p === null ? { result, index } : { result, index, commitIndex: p.commitIndex, proposal: p.proposal };
        } catch (err) {
          const e = err as Error & { code?: string; retryable?: boolean };
          // Nothing was written when this node simply is not (or no longer) the leader.
          if (e.code === 'NotLeader') e.retryable = true;
          throw e;
        }
      }
      case 'snapshot-request':
        // Shipped to the asker in parts over our own link, as to a lagging follower. A single reply
        // holding the whole store would need it all as JSON in memory at once, and a store larger
        // than the peer frame limit could never be fetched at all.
        void this.sendSnapshot(from);
        return {};
      case 'snapshot-part':
        this.installPart(String(req.transfer), Number(req.part), req.effects as Effect[], snapshotOutcomes(req.outcomes), Number(req.index), req.done === true);
        return {};
      default:
        throw new Error(`unknown peer request ${String(req.t)}`);
    }
  }

  /** Snapshot of the committed store in batches; every batch carries the applied index it reflects. */
  private *snapshotBatches(): Generator<Record<string, unknown>> {
    const index = this.engine.applied;
    const all = [...this.engine.local.store.entries()];
    // The outcomes of forwarded writes are state too: a node restored from this snapshot may lead
    // soon, and must answer a retry of a write committed before `index` from its record.
    const outcomes = this.engine.outcomes.snapshot();
    const itemParts = Math.max(1, Math.ceil(all.length / SNAPSHOT_BATCH_ITEMS));
    const parts = itemParts + Math.ceil(outcomes.length / SNAPSHOT_BATCH_OUTCOMES);
    for (let part = 0; part < parts; part++) {
      const done = part === parts - 1;
      if (part >= itemParts) {
        const from = (part - itemParts) * SNAPSHOT_BATCH_OUTCOMES;
        yield { index, part, effects: [], outcomes: outcomes.slice(from, from + SNAPSHOT_BATCH_OUTCOMES), done };
        continue;
      }
      const effects: Effect[] = all.slice(part * SNAPSHOT_BATCH_ITEMS, (part + 1) * SNAPSHOT_BATCH_ITEMS).map((it) => ({
        kind: 'put', key: it.key, value: it.value, flags: it.flags, exptimeSec: it.exptimeSec, cas: it.cas,
        storedAtSec: it.storedAtSec, stale: it.stale, keyBinary: it.keyBinary,
      }));
      yield { index, part, effects, done };
    }
  }

  private async sendSnapshot(peer: number): Promise<void> {
    // Mu asks again while a transfer is slow; a second concurrent transfer to the same peer would
    // only supersede the first one there (see installPart), so it is not started.
    if (this.sendingSnapshotTo.has(peer)) return;
    this.sendingSnapshotTo.add(peer);
    const transfer = `${this.opts.self.id}-${Date.now()}-${++this.transferCount}`;
    let items = 0;
    try {
      for (const batch of this.snapshotBatches()) {
        items += (batch.effects as Effect[]).length;
        await this.dialer(peer).request({ t: 'snapshot-part', transfer, ...batch });
      }
      this.opts.log.info(`sent a snapshot of ${items} items to node ${peer}`);
    } catch (err) {
      this.opts.log.info(`snapshot to node ${peer} failed (Mu will ask again): ${(err as Error).message}`);
    } finally {
      this.sendingSnapshotTo.delete(peer);
    }
  }

  /** Asks `peer` for its snapshot; it arrives as snapshot-part requests, installed when whole. */
  private async fetchSnapshot(peer: number): Promise<void> {
    try {
      await this.dialer(peer).request({ t: 'snapshot-request' });
    } catch (err) {
      this.opts.log.info(`snapshot from node ${peer} failed (Mu will ask again): ${(err as Error).message}`);
    }
  }

  /** One part of a snapshot transfer; the store is replaced once the last part is in (snapshot-staging.ts). */
  private installPart(transfer: string, part: number, effects: Effect[], outcomes: SnapshotOutcome[], index: number, done: boolean): void {
    const outcome = this.staging.accept({ transfer, part, effects, outcomes, index, done }, this.engine.applied);
    if (outcome.kind === 'staged') return;
    if (outcome.kind === 'stale') {
      this.opts.log.info(`dropped a snapshot up to log index ${index}: already applied up to ${this.engine.applied}`);
      return;
    }
    const store = this.engine.local.store;
    store.reset();
    this.engine.local.applyAll(outcome.effects);
    this.engine.outcomes.install(outcome.outcomes);
    this.engine.installedUpTo(index);
    this.mu.installSnapshot(index);
    this.opts.log.info(`caught up from a snapshot: ${store.stats().currItems} items up to log index ${index}`);
  }


}
