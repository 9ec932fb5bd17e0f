/**
 * Injects the seeded fault schedule (schedule.ts) into a running cluster, one fault at a time: the
 * next one waits until every node is back and all agree on one leader. Never more than one node is
 * down (or cut off) at once, and a majority always lives, except in lose-majority, where the leader
 * is left alone with its memory (it holds every committed write) until the others come back empty.
 */
import { ChaosCluster } from './chaos-cluster';
import { cutKey, cutsBetween, Cut } from './netns-plan';
import { PROBE_KEY, WriteOutcome, probeFailover, probeOldLeader, probeRejoin } from './probes';
import { FaultKind, faultPhaseOver, nextGapMs, nextKind, quotaMet } from './schedule';
import { exchangeOnce } from './text-client';
import { Recorder, nowMs } from './workload';
import { Rng } from '../rng';

export type { FaultKind } from './schedule';

export interface Fault {
  kind: FaultKind;
  /** The node signalled or cut off (split-brain: the old leader). */
  node: number;
  /** When the fault began (ms on the history's clock). */
  atMs: number;
  /**
   * stop-leader: how long the node stayed paused; partitions: how long the cut lasted;
   * lose-majority: from the kills until every victim was serving again.
   */
  heldMs?: number;
  /** lose-majority: the followers killed (and restarted). */
  victims?: number[];
  /** Partitions: the cut links. */
  cuts?: string[];
  /** partition-leader: writes sent straight to the cut-off old leader, by outcome. */
  oldLeaderWrites?: Record<WriteOutcome, number>;
  /** When all nodes were back and agreed on a leader. */
  recoveredMs: number;
  /** From the fault to the first acknowledged probe write (null: none within the bound). */
  failoverMs: number | null;
  /** kill/restart: from the restart to the node serving the last acknowledged probe value. */
  rejoinMs?: number | null;
}

export interface FaultOptions {
  kinds: FaultKind[];
  faultsPerKind: number | null;
  /** The run's length; with a quota the gaps are computed from it. */
  durationMs: number;
  /** With a quota not met by durationMs, faults go on until this (then the run reports the shortfall). */
  hardCapMs: number;
  minGapMs: number;
  maxGapMs: number;
  /** SIGSTOP length: longer than the failure detector's timeout (~100 ms of silent scans). */
  minPauseMs: number;
  maxPauseMs: number;
  /** How long a partition holds. */
  minHoldMs: number;
  maxHoldMs: number;
  recoverTimeoutMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seeded = (rng: Rng, min: number, max: number): number => min + rng.below(max - min + 1);

function pick<T>(rng: Rng, xs: T[]): T { return xs[rng.below(xs.length)]; }

function shuffled<T>(rng: Rng, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) { const j = rng.below(i + 1); [out[i], out[j]] = [out[j], out[i]]; }
  return out;
}

/**
 * split-brain: a bridge partition. The nodes but one (the bridge) split into side A holding the
 * leader and side B; A and B cannot talk, the bridge talks to both, so each side plus the bridge is
 * a majority and both may try to lead.
 */
export function bridgeSides(rng: Rng, leader: number, ids: number[]): { a: number[]; b: number[]; bridge: number } {
  const others = shuffled(rng, ids.filter((id) => id !== leader));
  const bridge = others[0];
  const rest = others.slice(1);
  const aSize = Math.floor((ids.length - 1) / 2) - 1;
  return { a: [leader, ...rest.slice(0, aSize)], b: rest.slice(aSize), bridge };
}

async function holdPartition(cluster: ChaosCluster, cuts: Cut[], holdMs: number, during: (until: () => boolean) => Promise<void>): Promise<number> {
  const netns = cluster.netns;
  if (netns === null) throw new Error('partitions need the tcp fabric in network namespaces');
  const t0 = Date.now();
  netns.cut(cuts);
  const until = (): boolean => Date.now() - t0 >= holdMs;
  try {
    await Promise.all([during(until), (async () => { while (!until()) await sleep(Math.min(50, holdMs)); })()]);
  } finally {
    netns.healAll();
  }
  return Date.now() - t0;
}

/**
 * ms from a restart until node `id` serves the probe's acknowledged write. A node that never does
 * (it agrees on a leader but stays empty or behind) has not recovered: the run fails, with logs.
 */
async function rejoined(cluster: ChaosCluster, id: number, value: string, rec: Recorder, fromMs: number, boundMs: number): Promise<number> {
  const ms = await probeRejoin(cluster, id, value, rec, fromMs, boundMs);
  if (ms !== null) return ms;
  // What each node says of itself, to tell a node that never caught up from one that stopped.
  const views = await Promise.all(cluster.nodes.map(async (n) => {
    const ask = (text: string): Promise<string> => exchangeOnce(n.client.host, n.client.port, text, true, 2000).then((r) => r.replace(/\r\n/g, ' '), (e: Error) => `(${e.message})`);
    return `--- node ${n.id}: get ${PROBE_KEY}: ${await ask(`get ${PROBE_KEY}\r\n`)}\n${(await ask('stats mu\r\n')).replace(/STAT /g, '')}`;
  }));
  throw new Error(`node ${id} did not rejoin: restarted, it never served the write acknowledged before (probe value ${value}) within ${boundMs} ms\n${views.join('\n')}\n${cluster.tails()}`);
}

async function injectOne(cluster: ChaosCluster, kind: FaultKind, leader: number, rng: Rng, rec: Recorder, o: FaultOptions): Promise<Fault> {
  const ids = cluster.nodes.map((n) => n.id);
  const followers = ids.filter((id) => id !== leader);
  const others = (x: number): number[] => ids.filter((id) => id !== x);
  const node = kind === 'kill-follower' || kind === 'partition-follower' ? pick(rng, followers)
    : kind === 'restart' ? pick(rng, ids) : leader;
  const fault: Fault = { kind, node, atMs: nowMs(rec), recoveredMs: NaN, failoverMs: null };
  cluster.mark(`fault ${kind} of node ${node} (leader ${leader})`);
  if (kind === 'stop-leader') {
    const pauseMs = seeded(rng, o.minPauseMs, o.maxPauseMs);
    cluster.pause(node);
    fault.atMs = nowMs(rec);
    const probe = probeFailover(cluster, others(node), rec, fault.atMs, o.recoverTimeoutMs);
    await sleep(pauseMs);
    cluster.resume(node);
    fault.heldMs = pauseMs;
    fault.failoverMs = (await probe)?.ms ?? null;
  } else if (kind === 'lose-majority') {
    // Enough followers that the leader is left short of a majority (2 of 3, 3 of 5). It suspends
    // its term; the victims come back empty, rejoin that term and it leads on: the fail-over is to
    // the same leader, measured to its first acknowledged write.
    const victims = shuffled(rng, followers).slice(0, ids.length - (Math.floor(ids.length / 2) + 1) + 1);
    fault.node = victims[0];
    fault.victims = victims;
    cluster.mark(`lose-majority: killing ${victims.join(', ')}`);
    fault.atMs = nowMs(rec);
    await Promise.all(victims.map((id) => cluster.kill(id)));
    const probe = probeFailover(cluster, [leader], rec, fault.atMs, o.recoverTimeoutMs);
    const startedMs = nowMs(rec);
    await Promise.all(victims.map((id) => cluster.start(id, o.recoverTimeoutMs)));
    fault.heldMs = nowMs(rec) - fault.atMs;
    const acked = await probe;
    fault.failoverMs = acked?.ms ?? null;
    fault.rejoinMs = acked === null ? null : await rejoined(cluster, victims[0], acked.value, rec, startedMs, o.recoverTimeoutMs);
  } else if (kind === 'kill-leader' || kind === 'kill-follower' || kind === 'restart') {
    fault.atMs = nowMs(rec);
    if (kind === 'restart') await cluster.terminate(node); else await cluster.kill(node);
    // The restart waits for the probe so the fail-over measured is to a surviving node.
    const probe = await probeFailover(cluster, others(node), rec, fault.atMs, o.recoverTimeoutMs);
    fault.failoverMs = probe?.ms ?? null;
    const startedMs = nowMs(rec);
    await cluster.start(node, o.recoverTimeoutMs);
    fault.rejoinMs = probe === null ? null : await rejoined(cluster, node, probe.value, rec, startedMs, o.recoverTimeoutMs);
  } else {
    const holdMs = seeded(rng, o.minHoldMs, o.maxHoldMs);
    let cuts: Cut[];
    let via: number[];
    if (kind === 'split-brain') {
      const s = bridgeSides(rng, leader, ids);
      cuts = cutsBetween(s.a, s.b);
      via = ids;
    } else {
      cuts = cutsBetween([node], others(node));
      via = others(node);
    }
    fault.cuts = cuts.map(cutKey);
    fault.atMs = nowMs(rec);
    let probe: Promise<{ ms: number } | null> = Promise.resolve(null);
    fault.heldMs = await holdPartition(cluster, cuts, holdMs, async (until) => {
      probe = probeFailover(cluster, via, rec, fault.atMs, o.recoverTimeoutMs);
      if (kind === 'partition-leader') fault.oldLeaderWrites = await probeOldLeader(cluster, node, rec, until);
    });
    cluster.mark(`healed ${fault.cuts.join(' ')}`);
    fault.failoverMs = (await probe)?.ms ?? null;
  }
  return fault;
}

/** Injects faults until the phase is over; returns them. Throws if the cluster does not recover. */
export async function injectFaults(cluster: ChaosCluster, rng: Rng, rec: Recorder, o: FaultOptions, abort: () => boolean, onFault: (f: Fault) => void): Promise<Fault[]> {
  const faults: Fault[] = [];
  const round: FaultKind[] = [];
  const counts = new Map<FaultKind, number>();
  const t0 = Date.now();
  const over = (): boolean => abort() || faultPhaseOver(Date.now() - t0, o.durationMs, o.hardCapMs, quotaMet(counts, o.kinds, o.faultsPerKind));
  let faultMsTotal = 0;
  for (let i = 0; i < 100_000 && !over(); i++) {
    const gapMs = nextGapMs(rng, { kinds: o.kinds.length, faultsPerKind: o.faultsPerKind, minGapMs: o.minGapMs, maxGapMs: o.maxGapMs, durationMs: o.durationMs },
      { elapsedMs: Date.now() - t0, faultsDone: faults.length, meanFaultMs: faults.length === 0 ? 0 : faultMsTotal / faults.length });
    for (const until = Date.now() + gapMs; Date.now() < until && !over();) await sleep(Math.min(50, until - Date.now()));
    if (over()) break;
    const kind = nextKind(rng, round, o.kinds);
    const leader = await cluster.agreedLeader(o.recoverTimeoutMs);
    if (leader === null) throw new Error(`no agreed leader before fault ${i + 1}\n${cluster.tails()}`);
    const startedAt = Date.now();
    const fault = await injectOne(cluster, kind, leader, rng, rec, o);
    const after = await cluster.agreedLeader(o.recoverTimeoutMs);
    if (after === null) throw new Error(`cluster did not recover from ${kind} of node ${fault.node} within ${o.recoverTimeoutMs} ms\n${cluster.tails()}`);
    fault.recoveredMs = nowMs(rec);
    cluster.mark(`recovered from ${kind}: leader ${after}`);
    faultMsTotal += Date.now() - startedAt;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    faults.push(fault);
    onFault(fault);
  }
  return faults;
}
