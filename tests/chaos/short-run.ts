/**
 * The short chaos runs of `npm test` (dist/ must be built): one helper so each test states only
 * what differs (fabric, size, fault kinds, length) and every run is checked the same way: no error,
 * no acknowledged write lost, a linearizable history, converged replicas. The seed comes from
 * CHAOS_SEED or the clock and is in the printed report, so a failure can be replayed.
 */
import { runChaos, ChaosResult } from '../../loadgen/chaos/run';
import { chaosText } from '../../loadgen/chaos/report';
import type { FaultOptions } from '../../loadgen/chaos/faults';
import { DEFAULT_CHAOS_WRITE_DEADLINE_MS, unknownHorizonFor } from '../../loadgen/chaos/horizon';
import { FaultKind } from '../../loadgen/chaos/schedule';
import { daemonCli, freePort } from '../helpers/procs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ShortRun {
  fabric: 'shm' | 'tcp';
  nodes: number;
  kinds: FaultKind[];
  durationMs: number;
  /** The daemons' --reads: linearizable holds the gets to linearizability too. */
  reads?: 'local' | 'linearizable';
}

export async function shortRun(s: ShortRun): Promise<ChaosResult> {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
  // Short gaps so that a short run sees a full round of fault kinds even when recoveries are slow.
  const faults: FaultOptions = {
    kinds: s.kinds, faultsPerKind: null, durationMs: s.durationMs, hardCapMs: s.durationMs, minGapMs: 200, maxGapMs: 600,
    minPauseMs: 450, maxPauseMs: 700, minHoldMs: 500, maxHoldMs: 900, recoverTimeoutMs: 40_000,
  };
  const logDir = path.join(os.tmpdir(), `mucached-chaos-test-logs-${seed}-${process.pid}`);
  const r = await runChaos({
    cli: daemonCli,
    fabric: s.fabric,
    nodes: s.nodes,
    durationMs: s.durationMs,
    seed,
    // A fifth of the writes carry 10 KB values: entries in three log slots, so faults also land
    // between the parts of an entry (a stall after such a fail-over was found only this way).
    workload: { clients: 4, keys: 6, requestTimeoutMs: 1000, maxOpsPerClient: 1_000_000, bigValueBytes: 10_000, bigValuePercent: 20, strongReads: s.reads === 'linearizable' },
    faults,
    unknownHorizonMs: unknownHorizonFor(DEFAULT_CHAOS_WRITE_DEADLINE_MS, faults.maxPauseMs),
    // With 4 s horizons after unknown outcomes, a segment after a fault can need tens of millions of
    // steps (loadgen/chaos/run.ts). At 2M-6M steps a second, 100M per segment keeps the worst one
    // under a minute, inside the test's time limit; the total bound is the run's default.
    maxCheckStepsPerSegment: 100_000_000,
    daemonArgs: ['-I', process.env.CHAOS_ITEM_SIZE ?? '64k', '--write-deadline-ms', String(DEFAULT_CHAOS_WRITE_DEADLINE_MS), '--reads', s.reads ?? 'local'],
    freePort,
    logDir,
  });
  const report = chaosText(r);
  process.stdout.write(`${report}\n`);
  const summary = { seed, error: r.error, lost: r.lostAcknowledgedWrites, verdict: r.check.verdict, converged: r.finalReads?.converged ?? false };
  if (r.error !== null || summary.lost !== 0 || summary.verdict !== 'linearizable' || !summary.converged) {
    // Beside the node logs, so a failure seen only in a summary can still be read in full.
    fs.mkdirSync(logDir, { recursive: true });
    fs.writeFileSync(path.join(logDir, 'report.txt'), `${report}
`);
    // The history too (as `chaos --history` writes it): a check that gave up or found a violation
    // can then be rerun and studied offline; a live run cannot be replayed exactly.
    fs.writeFileSync(path.join(logDir, 'history.json'), JSON.stringify(r.history.map((op) => ({ ...op, returnMs: op.returnMs === Infinity ? null : op.returnMs }))));
    throw new Error(report);
  }
  expect(summary).toEqual({ seed, error: null, lost: 0, verdict: 'linearizable', converged: true });
  expect(r.ops.total).toBeGreaterThan(100);
  expect(r.faults.length).toBeGreaterThan(0);
  // Faults come in shuffled rounds of every kind: a run that reached a full round saw each.
  if (r.faults.length >= s.kinds.length) for (const k of s.kinds) expect(r.faults.some((f) => f.kind === k)).toBe(true);
  return r;
}
