/**
 * The seeded fault schedule: kinds come in rounds, each round a seeded shuffle of every kind (so a
 * short run still injects each), separated by seeded gaps. One fault at a time, and the next one
 * waits until all three nodes are back and agree on a leader: never more than one node down.
 */
import { ChaosCluster } from './chaos-cluster';
import { Op } from './history';
import { RequestFailed, TextConnection } from './text-client';
import { Recorder, nowMs } from './workload';
import { Rng } from '../rng';

export type FaultKind = 'kill-leader' | 'kill-follower' | 'stop-leader';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-leader', 'kill-follower', 'stop-leader'];

export interface Fault {
  kind: FaultKind;
  node: number;
  /** When the signal was sent (ms on the history's clock). */
  atMs: number;
  /** SIGSTOP only: how long the node stayed paused. */
  pausedMs?: number;
  /** When all nodes were back and agreed on a leader. */
  recoveredMs: number;
  /** From the signal to the first acknowledged write of the probe client (null: none within the bound). */
  failoverMs: number | null;
}

export interface FaultOptions {
  minGapMs: number;
  maxGapMs: number;
  /** SIGSTOP length: longer than the failure detector's timeout (~300 ms). */
  minPauseMs: number;
  maxPauseMs: number;
  recoverTimeoutMs: number;
}

export function nextKind(rng: Rng, round: FaultKind[]): FaultKind {
  if (round.length === 0) {
    const kinds = [...FAULT_KINDS];
    for (let i = kinds.length - 1; i > 0; i--) { const j = rng.below(i + 1); [kinds[i], kinds[j]] = [kinds[j], kinds[i]]; }
    round.push(...kinds);
  }
  return round.shift() as FaultKind;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PROBE_TIMEOUT_MS = 250;
const PROBE_KEY = 'chaosprobe';

/**
 * The fail-over probe: from the moment of the fault, sets on PROBE_KEY through every node but the
 * faulty one, round-robin, each over a fresh connection with a short timeout, until one is
 * acknowledged. Its operations join the history, so they are checked too.
 */
async function probeWrite(cluster: ChaosCluster, faulty: number, rec: Recorder, fromMs: number, boundMs: number): Promise<number | null> {
  const ports = cluster.nodes.filter((n) => n.id !== faulty).map((n) => n.clientPort);
  for (let attempt = 0; attempt < 10_000 && nowMs(rec) - fromMs < boundMs; attempt++) {
    const port = ports[attempt % ports.length];
    const value = String(1_000_000 * rec.nextValue++);
    const op: Op = { id: rec.nextId++, client: -2, key: PROBE_KEY, kind: 'set', value, invokeMs: nowMs(rec), returnMs: Infinity, note: `fail-over probe via port ${port}` };
    let conn: TextConnection | null = null;
    try {
      conn = await TextConnection.open(port, PROBE_TIMEOUT_MS);
      op.invokeMs = nowMs(rec);
      const reply = await conn.request(`set ${PROBE_KEY} 0 0 ${value.length}\r\n${value}\r\n`, false, PROBE_TIMEOUT_MS);
      if (reply === 'STORED\r\n') {
        op.returnMs = nowMs(rec);
        op.result = 'STORED';
        rec.ops.push(op);
        return op.returnMs - fromMs;
      }
      rec.ops.push({ ...op, note: `${op.note}; ${reply.trim()}` });
    } catch (e) {
      if (e instanceof RequestFailed && e.sent) rec.ops.push({ ...op, note: `${op.note}; ${e.message}` });
    } finally {
      conn?.close();
    }
    await sleep(1);
  }
  return null;
}

/** Injects faults until `stopped()`; returns them. Throws if the cluster does not recover. */
export async function injectFaults(cluster: ChaosCluster, rng: Rng, rec: Recorder, o: FaultOptions, stopped: () => boolean, onFault: (f: Fault) => void): Promise<Fault[]> {
  const faults: Fault[] = [];
  const round: FaultKind[] = [];
  for (let i = 0; i < 100_000; i++) {
    const gapMs = o.minGapMs + rng.below(o.maxGapMs - o.minGapMs + 1);
    for (const until = Date.now() + gapMs; Date.now() < until && !stopped();) await sleep(Math.min(50, until - Date.now()));
    if (stopped()) break;
    const kind = nextKind(rng, round);
    const leader = await cluster.agreedLeader(o.recoverTimeoutMs);
    if (leader === null) throw new Error(`no agreed leader before fault ${i + 1}\n${cluster.tails()}`);
    const followers = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    const node = kind === 'kill-follower' ? followers[rng.below(followers.length)] : leader;
    const fault: Fault = { kind, node, atMs: nowMs(rec), recoveredMs: NaN, failoverMs: null };
    let probe: Promise<number | null>;
    if (kind === 'stop-leader') {
      const pauseMs = o.minPauseMs + rng.below(o.maxPauseMs - o.minPauseMs + 1);
      cluster.pause(node);
      fault.atMs = nowMs(rec);
      probe = probeWrite(cluster, node, rec, fault.atMs, o.recoverTimeoutMs);
      await sleep(pauseMs);
      cluster.resume(node);
      fault.pausedMs = pauseMs;
    } else {
      fault.atMs = nowMs(rec);
      await cluster.kill(node);
      probe = probeWrite(cluster, node, rec, fault.atMs, o.recoverTimeoutMs);
      // The probe's first write is the fail-over; the restart waits for it so the measured
      // fail-over is to a surviving node, not to the restarted one.
      await probe;
      await cluster.start(node, o.recoverTimeoutMs);
    }
    fault.failoverMs = await probe;
    const after = await cluster.agreedLeader(o.recoverTimeoutMs);
    if (after === null) throw new Error(`cluster did not recover from ${kind} of node ${node} within ${o.recoverTimeoutMs} ms\n${cluster.tails()}`);
    fault.recoveredMs = nowMs(rec);
    faults.push(fault);
    onFault(fault);
  }
  return faults;
}
