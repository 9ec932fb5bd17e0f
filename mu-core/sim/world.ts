/**
 * The simulated world: one clock, one event queue, one seed. Nodes' code runs only from events
 * tagged with the node; the simulated NICs (landing of one-sided writes and reads) run from untagged
 * events, so a paused node's memory keeps being written and read, as with RDMA or shm, while its
 * code sleeps. A crashed node's events are dropped and its memory is gone.
 */
import { Rng } from './rng';

export interface SimEvent {
  time: number;
  seq: number;
  node: number | null;
  /** The incarnation of `node` the event belongs to: a restarted node never runs its past's events. */
  host: SimHost | null;
  fn: () => void;
  cancelled: boolean;
}

export interface SimRegion {
  buf: Buffer;
  holder: number | null;
  /** Second halves of writes that landed in two pieces (a torn window for readers). */
  partials: Set<() => void>;
  /** Watched (Fabric.watchRemoteWrites): a landed write calls the host's remote-write handler. */
  watched?: boolean;
}

export class SimHost {
  alive = true;
  paused = false;
  readonly held: SimEvent[] = [];
  readonly regions = new Map<string, SimRegion>();
  readonly cq: import('../../binding/fabric').Completion[] = [];
  readonly waiters: Array<() => void> = [];
  wakeScheduled = false;
  remoteWriteHandler: (() => void) | null = null;
  remoteWriteScheduled = false;
  /** Peers this host watches (Fabric.watchPeerGone): their crash calls peerGoneHandler. */
  readonly watchedPeers = new Set<number>();
  peerGoneHandler: (() => void) | null = null;
  /**
   * Fabric.armGrant: the grant its NIC makes when the peer named there crashes (null: none armed),
   * with the grantee's incarnation when it was armed.
   */
  grantArm: (import('../../binding/fabric').GrantArm & { granteeHost: SimHost | undefined }) | null = null;
  /** Grants made from arms, not yet taken by the node. */
  readonly armedGrants: import('../../binding/fabric').ArmedGrant[] = [];
  constructor(readonly id: number) {}
}

export interface SimLatency {
  /** One-way delay of a one-sided operation, uniform in [minMs, maxMs] ... */
  minMs: number;
  maxMs: number;
  /** ... and with this probability a spike up to spikeMaxMs (a slow path, a stalled NIC). */
  spikeChance: number;
  spikeMaxMs: number;
  /** Probability that a write lands in two pieces, with a window where readers see it torn. */
  tornChance: number;
}

export type LandedHook = (writer: number, target: number, region: string, offset: number, data: Buffer) => void;

export class SimWorld {
  now = 0;
  steps = 0;
  readonly hosts = new Map<number, SimHost>();
  onLanded: LandedHook | null = null;
  /**
   * Whether operations on a crashed host fail as 'gone' (its side answers that nothing serves it, as
   * shm's dead liveness lock and tcp's refused connection do) rather than 'unreachable'. Paused hosts
   * never answer either way.
   */
  crashedAnswerGone = false;
  /** Links cut between two hosts (both directions), as "low-high". */
  private readonly cutLinks = new Set<string>();
  /** Work-request ids are unique in the world, across restarts of a node. */
  nextWrId = 1;
  private heap: SimEvent[] = [];
  private seq = 0;

  constructor(readonly rng: Rng, readonly latency: SimLatency) {}

  addHost(id: number): SimHost {
    const h = new SimHost(id);
    this.hosts.set(id, h);
    return h;
  }

  host(id: number): SimHost | undefined {
    return this.hosts.get(id);
  }

  schedule(delayMs: number, node: number | null, fn: () => void): SimEvent {
    const host = node === null ? null : this.hosts.get(node) ?? null;
    // Not Math.max: a global read per event is slow inside jest's vm context (mu-core/checksum.ts).
    const ev: SimEvent = { time: delayMs > 0 ? this.now + delayMs : this.now, seq: this.seq++, node, host, fn, cancelled: false };
    this.push(ev);
    return ev;
  }

  /** `fn` once: at `host`'s next completion signal, or after timeoutMs of simulated time. */
  waitForCompletions(host: SimHost, timeoutMs: number, fn: () => void): void {
    let fired = false;
    const once = () => {
      if (fired) return;
      fired = true;
      fn();
    };
    host.waiters.push(once);
    this.schedule(timeoutMs, host.id, once);
  }

  /** A random one-way delay. */
  netDelayMs(): number {
    const l = this.latency;
    if (this.rng.chance(l.spikeChance)) return l.minMs + this.rng.next() * l.spikeMaxMs;
    return l.minMs + this.rng.next() * (l.maxMs - l.minMs);
  }

  get pending(): number {
    return this.heap.length;
  }

  get nextTime(): number {
    return this.heap.length > 0 ? this.heap[0].time : Infinity;
  }

  /** Runs one event; false when nothing is left. */
  step(): boolean {
    for (;;) {
      const ev = this.pop();
      if (ev === undefined) return false;
      if (ev.cancelled) continue;
      this.now = ev.time;
      if (ev.node !== null) {
        const h = this.hosts.get(ev.node);
        if (h === undefined || !h.alive || h !== ev.host) continue;
        if (h.paused) {
          h.held.push(ev);
          continue;
        }
      }
      this.steps++;
      ev.fn();
      return true;
    }
  }

  crash(id: number): void {
    const h = this.hosts.get(id);
    if (h === undefined) return;
    h.alive = false;
    h.held.length = 0;
    h.cq.length = 0;
    h.waiters.length = 0;
    for (const r of h.regions.values()) r.partials.clear();
    // As shm's watchers: a crash that peers see as 'gone' also tells the hosts watching it, soon.
    if (!this.crashedAnswerGone) return;
    for (const [otherId, other] of this.hosts) {
      if (otherId === id || !other.watchedPeers.has(id)) continue;
      // The watcher's native thread makes an armed grant on its own: it runs while the node's code
      // sleeps (an untagged event), before or after the node hears of the crash.
      if (other.grantArm?.whenGone === id) this.schedule(this.netDelayMs(), null, () => this.makeArmedGrant(otherId, other, id));
      this.schedule(this.netDelayMs(), otherId, () => {
        if (other.alive && this.hosts.get(otherId) === other) other.peerGoneHandler?.();
      });
    }
  }

  /** As shm's watcher thread does (binding/src/shm_backend.cc, makeArmedGrant). */
  private makeArmedGrant(ownerId: number, owner: SimHost, gone: number): void {
    const arm = owner.grantArm;
    if (!owner.alive || this.hosts.get(ownerId) !== owner || arm === null || arm.whenGone !== gone) return;
    owner.grantArm = null;
    // The grantee restarted since: the request the grant answers died with it (shm: a retired file).
    if (this.hosts.get(arm.grantee) !== arm.granteeHost) return;
    const region = owner.regions.get(arm.region);
    if (region === undefined || region.holder !== gone) return;
    for (const rest of [...region.partials]) rest();
    region.holder = arm.grantee;
    const grantee = this.hosts.get(arm.grantee);
    const box = grantee?.alive ? grantee.regions.get(arm.boxRegion) : undefined;
    if (grantee !== undefined && box !== undefined && box.holder === ownerId && !this.isCut(ownerId, arm.grantee)) {
      arm.box.copy(box.buf, arm.boxOffset);
      this.onLanded?.(ownerId, arm.grantee, arm.boxRegion, arm.boxOffset, arm.box);
      if (box.watched) this.notifyRemoteWrite(grantee);
    }
    owner.armedGrants.push({ whenGone: gone, grantee: arm.grantee, region: arm.region, tag: arm.tag });
  }

  /** The owner's remote-write handler runs as its own event (held while the owner is paused), once per burst. */
  notifyRemoteWrite(target: SimHost): void {
    if (target.remoteWriteScheduled) return;
    target.remoteWriteScheduled = true;
    this.schedule(0, target.id, () => {
      target.remoteWriteScheduled = false;
      if (target.alive && this.hosts.get(target.id) === target) target.remoteWriteHandler?.();
    });
  }

  /**
   * Cuts the link between hosts `a` and `b`, as a partition does: both keep running, operations
   * between them fail as 'unreachable' (no answer from the other side) until `heal`.
   */
  cut(a: number, b: number): void {
    this.cutLinks.add(a < b ? `${a}-${b}` : `${b}-${a}`);
  }

  heal(a: number, b: number): void {
    this.cutLinks.delete(a < b ? `${a}-${b}` : `${b}-${a}`);
  }

  isCut(a: number, b: number): boolean {
    return this.cutLinks.size > 0 && this.cutLinks.has(a < b ? `${a}-${b}` : `${b}-${a}`);
  }

  pause(id: number): void {
    const h = this.hosts.get(id);
    if (h !== undefined && h.alive) h.paused = true;
  }

  /** The node wakes up: everything it slept through (overdue timers, completions) runs now, in order. */
  resume(id: number): void {
    const h = this.hosts.get(id);
    if (h === undefined || !h.alive || !h.paused) return;
    h.paused = false;
    for (const ev of h.held.splice(0)) {
      ev.time = this.now;
      ev.seq = this.seq++;
      this.push(ev);
    }
  }

  private push(ev: SimEvent): void {
    const a = this.heap;
    a.push(ev);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  private pop(): SimEvent | undefined {
    const a = this.heap;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}
