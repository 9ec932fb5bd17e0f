/**
 * A short chaos run against real processes (dist/ must be built): a 3-node shm cluster under
 * concurrent clients with a SIGKILL of the leader, of a follower and a SIGSTOP of the leader
 * (each kind at least once: kinds come in shuffled rounds), then no acknowledged write lost and
 * a linearizable history.
 */
import { runChaos } from '../../loadgen/chaos/run';
import { chaosText } from '../../loadgen/chaos/report';
import { FAULT_KINDS } from '../../loadgen/chaos/faults';
import { daemonCli, freePort } from '../helpers/procs';

jest.setTimeout(170_000);

test('a short chaos run loses no acknowledged write and checks out linearizable', async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
  const r = await runChaos({
    cli: daemonCli,
    durationMs: 25_000,
    seed,
    workload: { clients: 4, keys: 6, requestTimeoutMs: 1000, maxOpsPerClient: 1_000_000 },
    // Short gaps so that a 25 s run sees a full round of fault kinds even when recoveries are slow.
    faults: { minGapMs: 200, maxGapMs: 600, minPauseMs: 450, maxPauseMs: 700, recoverTimeoutMs: 40_000 },
    unknownHorizonMs: 3000,
    maxCheckStepsPerKey: 5_000_000,
    daemonArgs: ['-I', process.env.CHAOS_ITEM_SIZE ?? '64k'],
    freePort,
  });
  const report = chaosText(r);
  process.stdout.write(`${report}\n`);
  const summary = { seed, error: r.error, lost: r.lostAcknowledgedWrites, verdict: r.check.verdict, converged: r.finalReads?.converged ?? false };
  if (r.error !== null || summary.lost !== 0 || summary.verdict !== 'linearizable' || !summary.converged) throw new Error(report);
  expect(summary).toEqual({ seed, error: null, lost: 0, verdict: 'linearizable', converged: true });
  expect(r.ops.total).toBeGreaterThan(100);
  expect(r.faults.length).toBeGreaterThan(0);
  // Faults come in shuffled rounds of every kind: count what a run of this length reached.
  if (r.faults.length >= FAULT_KINDS.length) for (const k of FAULT_KINDS) expect(r.faults.some((f) => f.kind === k)).toBe(true);
});
