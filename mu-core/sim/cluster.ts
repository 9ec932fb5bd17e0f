/**
 * A simulated Mu group: N MuNodes on SimFabric/SimScheduler in one SimWorld, each with a tiny
 * application (the map index -> entry it applied) wired to the safety checker, and state transfer
 * done by copying that map after a simulated delay.
 */
import { defaultConfig, MuConfig } from '../config';
import type { MuLogger } from '../logger';
import { MuNode } from '../node';
import { SafetyChecker } from './checker';
import { SimFabric } from './fabric';
import { Rng } from './rng';
import { SimScheduler } from './scheduler';
import { SimLatency, SimWorld } from './world';

export interface SimMember {
  id: number;
  node: MuNode;
  /** Application state: entries applied (or installed by snapshot), by index. */
  entries: Map<number, string>;
}

export class SimCluster {
  readonly world: SimWorld;
  readonly checker: SafetyChecker;
  readonly members = new Map<number, SimMember>();
  readonly log: string[] = [];
  readonly ids: number[];
  /** What each node reported through onLeaderChange, in order: its role and leader at that moment. */
  readonly leaderReports: Array<{ id: number; role: string; leaderId: number | null }> = [];
  /** Ids started at least once: a later start of one is a restart (MuNodeOptions.startedBefore). */
  private readonly startedOnce = new Set<number>();

  constructor(readonly rng: Rng, n: number, readonly cfg: MuConfig, latency: SimLatency, private readonly keepLog = false) {
    this.world = new SimWorld(rng, latency);
    this.checker = new SafetyChecker(cfg.slotBytes);
    this.world.onLanded = (w, t, r, o, d) => this.checker.onLanded(w, t, r, o, d);
    this.ids = Array.from({ length: n }, (_, i) => i + 1);
  }

  static defaults(rng: Rng): MuConfig {
    // Election polling on or off, refused reads weighted or not, and prepare reading logs in windows
    // of 4 slots or at once, the ring hold off, short or as long as the fuse, the pump's idle
    // back-off off or to four intervals: every path stays covered.
    const base = defaultConfig('sim');
    return {
      ...base, slotCount: rng.pick([6, 8, 16, 32]), electionPollMs: rng.pick([0, 0.05, 0.2]),
      unreachableMissScans: rng.pick([1, 2, 6]), prepareFirstReadBytes: rng.pick([4 * 128, 32 * 128]),
      ringHoldMs: rng.pick([0, 1, 6]), pumpIdleMaxMs: rng.pick([base.pumpIntervalMs, 4 * base.pumpIntervalMs]),
    };
  }

  start(id: number): SimMember {
    const startedBefore = this.startedOnce.has(id);
    this.startedOnce.add(id);
    this.world.addHost(id);
    const logger: MuLogger = {
      info: (m) => { if (this.keepLog) this.log.push(`${this.world.now.toFixed(3)} [${id}] ${m}`); },
      warn: (m) => { if (this.keepLog) this.log.push(`${this.world.now.toFixed(3)} [${id}] WARN ${m}`); },
    };
    const entries = new Map<number, string>();
    const member: SimMember = { id, node: undefined as unknown as MuNode, entries };
    member.node = new MuNode({
      fabric: new SimFabric(this.world, id),
      members: this.ids.map((peerId) => ({ peerId })),
      scheduler: new SimScheduler(this.world, id),
      logger,
      config: this.cfg,
      incarnation: this.rng.int(1, 0xffffffff),
      // As a daemon's state file would say: a restarted node knows it ran in this group before.
      startedBefore,
      onLeaderChange: () => this.leaderReports.push({ id, role: member.node.role, leaderId: member.node.leaderId }),
      onEntry: (index, payload) => {
        const s = payload.toString();
        this.checker.onApply(id, index, s);
        entries.set(index, s);
      },
      stateTransfer: {
        sendSnapshot: (peer, appliedIndex) => this.shipSnapshot(id, peer, appliedIndex),
        fetchSnapshot: (peer) => {
          this.world.schedule(this.world.netDelayMs(), peer, () => {
            const src = this.members.get(peer);
            if (src !== undefined) this.shipSnapshot(peer, id, src.node.appliedIndex);
          });
        },
      },
    });
    this.members.set(id, member);
    this.world.schedule(0, id, () => member.node.start());
    return member;
  }

  /** Copies `from`'s application state now; it reaches `to` after a delay (later if `to` sleeps). */
  private shipSnapshot(from: number, to: number, upTo: number): void {
    const src = this.members.get(from);
    if (src === undefined) return;
    const copy = new Map<number, string>();
    for (const [i, p] of src.entries) if (i <= upTo) copy.set(i, p);
    this.world.schedule(this.world.netDelayMs() * 5, to, () => {
      const dst = this.members.get(to);
      if (dst === undefined || upTo <= dst.node.appliedIndex) return;
      this.checker.onSnapshot(to, copy, upTo);
      dst.entries.clear();
      for (const [i, p] of copy) dst.entries.set(i, p);
      dst.node.installSnapshot(upTo);
    });
  }

  crash(id: number): void {
    this.world.crash(id);
    this.members.get(id)?.node.stop();
    this.members.delete(id);
  }

  /** A crashed node comes back empty (new process: no log, no application state). */
  restart(id: number): void {
    this.checker.forget(id);
    this.start(id);
  }

  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members.values()) {
      const h = this.world.host(m.id);
      if (m.node.role === 'leader' && h?.alive && !h.paused) best = m;
    }
    return best;
  }

  live(): number[] {
    return [...this.members.keys()].filter((id) => this.world.host(id)?.alive);
  }
}
