/**
 * One chaos run: start the cluster, run the clients and the fault schedule for the run's length,
 * then let the cluster settle, read every key on every node (strong reads: nothing else is in
 * flight and the replicas have converged), check the history and summarise.
 */
import { performance } from 'perf_hooks';
import { ChaosCluster, ChaosFabric } from './chaos-cluster';
import { Fault, FaultOptions, injectFaults } from './faults';
import { Op } from './history';
import { CheckResult, checkHistory } from './linearizability';
import { PROBE_KEY } from './probes';
import { RequestFailed, TextConnection } from './text-client';
import { parseRecordedValue } from './big-values';
import { Recorder, WorkloadOptions, nowMs, runClient } from './workload';
import { unknownHorizonAfter } from './horizon';
import { makeRng } from '../rng';

export interface ChaosOptions {
  cli: string;
  fabric: ChaosFabric;
  nodes: number;
  /** The fault phase's nominal length (faults.durationMs); with a quota it may run on to faults.hardCapMs. */
  durationMs: number;
  seed: number;
  workload: WorkloadOptions;
  faults: FaultOptions;
  /** The checker's assumption: no request takes effect later than this after it was sent. */
  unknownHorizonMs: number;
  /** The check's bound on one segment's search (default CHECK_STEPS_PER_SEGMENT). */
  maxCheckStepsPerSegment?: number;
  /** The check's bound on the whole history (default checkStepsTotalFor the number of operations). */
  maxCheckStepsTotal?: number;
  daemonArgs: string[];
  freePort: () => Promise<number>;
  /** When the run fails, every node's output (lines stamped with the history's clock) goes here. */
  logDir?: string;
  onProgress?: (p: { elapsedMs: number; ops: number; faults: number }) => void;
}

export interface ChaosResult {
  seed: number;
  fabric: ChaosFabric;
  nodes: number;
  faultOptions: FaultOptions;
  /** The nominal length asked for, and how long the fault phase really ran. */
  durationMs: number;
  elapsedMs: number;
  daemonArgs: string[];
  unknownHorizonMs: number;
  ops: { total: number; unknown: number; byKind: Record<string, number> };
  faults: Fault[];
  /** null when the run was aborted before the final reads. */
  finalReads: { converged: boolean; divergentKeys: string[] } | null;
  lostAcknowledgedWrites: number;
  check: CheckResult;
  failoverMs: Record<string, number[]>;
  error: string | null;
  /** Wall-clock time of the history's 0 ms. */
  startedAtIso: string;
  /** Node logs written because the run failed (empty otherwise). */
  logFiles: string[];
  /** Every recorded operation (for --history). */
  history: Op[];
}

const CONVERGE_TIMEOUT_MS = 15_000;

// The search does 2M to 6M steps a second: 200M keeps one segment under two minutes. Quiet segments
// take tens of steps; after a fault, 15 to 28 unknown outcomes with 4 s horizons chain into one
// segment of 700 to 3,400 ops. In a 2-minute 5-node run (seed 9103) seven such segments took over
// 100M steps each before wgl-search.ts's rules for unknown ops; with them every key but one took
// under 20M in all, and that one segment (28 unknown ops, among them incr and delete) 151M (25 s).
export const CHECK_STEPS_PER_SEGMENT = 200_000_000;
// The whole check: a floor with room for five segments at the bound, plus room per operation far
// above the under 10 steps an operation of a quiet segment takes, so a long run never runs out on
// easy segments alone (2M operations: 1.4G steps, about 12 minutes).
const CHECK_STEPS_FLOOR = 1_000_000_000;
const CHECK_STEPS_PER_OP = 200;

export function checkStepsTotalFor(ops: number): number {
  return CHECK_STEPS_FLOOR + CHECK_STEPS_PER_OP * ops;
}

async function readAll(host: string, port: number, keys: string[], timeoutMs: number): Promise<Map<string, string | null>> {
  const conn = await TextConnection.open(port, timeoutMs, host);
  try {
    const out = new Map<string, string | null>();
    // The history keeps big values in their compact form (big-values.ts): so must the final reads.
    for (const k of keys) out.set(k, parseRecordedValue(await conn.request(`get ${k}\r\n`, true, timeoutMs))?.value ?? null);
    return out;
  } finally { conn.close(); }
}

/** Waits until every node returns the same value for every key; records the last round as ops. */
async function finalReads(cluster: ChaosCluster, keys: string[], rec: Recorder, timeoutMs: number): Promise<{ converged: boolean; divergentKeys: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let divergent: string[] = keys;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const invokeMs = nowMs(rec);
    const views = await Promise.all(cluster.nodes.map((n) => readAll(n.client.host, n.client.port, keys, 2000).catch((e: RequestFailed) => e)));
    const returnMs = nowMs(rec);
    const ok = views.filter((v): v is Map<string, string | null> => v instanceof Map);
    divergent = ok.length < views.length ? keys : keys.filter((k) => ok.some((v) => v.get(k) !== ok[0].get(k)));
    const last = divergent.length === 0 || Date.now() > deadline;
    if (last) {
      ok.forEach((v, i) => {
        for (const k of keys) rec.ops.push({ id: rec.nextId++, client: -1, key: k, kind: 'get', invokeMs, returnMs, result: v.get(k) ?? null, note: `final read on node ${cluster.nodes[i].id}` });
      });
      return { converged: divergent.length === 0, divergentKeys: divergent };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { converged: false, divergentKeys: divergent };
}

/** Per fault kind: the probe's fail-over times. */
function failoverTimes(faults: Fault[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const f of faults) if (f.failoverMs !== null) (out[f.kind] ??= []).push(f.failoverMs);
  return out;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const rng = makeRng(o.seed);
  const rec: Recorder = { ops: [], t0: performance.now(), nextId: 1, nextValue: 1 };
  const startedAtIso = new Date().toISOString();
  const cluster = await ChaosCluster.create(o.cli, o.nodes, o.fabric, o.freePort, o.daemonArgs);
  cluster.clockMs = () => nowMs(rec);
  let faults: Fault[] = [];
  let error: string | null = null;
  let final: ChaosResult['finalReads'] = null;
  const keys = [...Array.from({ length: o.workload.keys }, (_, i) => `chaos${i}`), PROBE_KEY];
  let phaseStart = Date.now();
  let phaseEnd: number | null = null;
  try {
    await Promise.all(cluster.nodes.map((n) => cluster.start(n.id)));
    if ((await cluster.agreedLeader(o.faults.recoverTimeoutMs)) === null) throw new Error(`no leader at start\n${cluster.tails()}`);
    phaseStart = Date.now();
    let stop = false;
    const stopped = (): boolean => stop;
    const endpoints = cluster.nodes.map((n) => n.client);
    const clients = Array.from({ length: o.workload.clients }, (_, c) => runClient(c, endpoints, makeRng(rng.below(2 ** 32)), rec, o.workload, stopped));
    const progress = setInterval(() => o.onProgress?.({ elapsedMs: nowMs(rec), ops: rec.ops.length, faults: faults.length }), 250);
    try {
      // The clients stop when the fault phase does (with a quota it may outlast durationMs).
      faults = await injectFaults(cluster, makeRng(rng.below(2 ** 32)), rec, { ...o.faults, durationMs: o.durationMs }, () => false, (f) => { faults = [...faults, f]; });
    } catch (e) {
      error = (e as Error).message;
    } finally {
      stop = true;
      phaseEnd = Date.now();
      await Promise.all(clients);
      clearInterval(progress);
    }
    if (error === null) {
      if ((await cluster.agreedLeader(o.faults.recoverTimeoutMs)) === null) error = `no leader after the run\n${cluster.tails()}`;
      else final = await finalReads(cluster, keys, rec, CONVERGE_TIMEOUT_MS);
    }
  } finally {
    await cluster.stopAll();
  }
  const unknownHorizonMs = unknownHorizonAfter(o.unknownHorizonMs, faults);
  const check = checkHistory(rec.ops, {
    unknownHorizonMs,
    maxStepsPerSegment: o.maxCheckStepsPerSegment ?? CHECK_STEPS_PER_SEGMENT,
    maxStepsTotal: o.maxCheckStepsTotal ?? checkStepsTotalFor(rec.ops.length),
  });
  const lost = check.violations.filter((v) => v.blockedOp?.note?.startsWith('final read') === true).length;
  const failed = error !== null || lost > 0 || check.verdict !== 'linearizable' || final?.converged !== true;
  const logFiles = failed && o.logDir !== undefined ? cluster.writeLogs(o.logDir) : [];
  const byKind: Record<string, number> = {};
  for (const op of rec.ops) byKind[op.kind] = (byKind[op.kind] ?? 0) + 1;
  return {
    seed: o.seed,
    fabric: o.fabric,
    nodes: o.nodes,
    faultOptions: { ...o.faults, durationMs: o.durationMs },
    durationMs: o.durationMs,
    elapsedMs: (phaseEnd ?? Date.now()) - phaseStart,
    daemonArgs: o.daemonArgs,
    unknownHorizonMs,
    ops: { total: rec.ops.filter((op) => op.client >= 0).length, unknown: rec.ops.filter((op) => op.returnMs === Infinity).length, byKind },
    faults,
    finalReads: final,
    lostAcknowledgedWrites: lost,
    check,
    failoverMs: failoverTimes(faults),
    error,
    startedAtIso,
    logFiles,
    history: rec.ops,
  };
}
