/** The chaos run's report: a text summary for people and a JSON document for scripts. */
import { FAULT_KINDS } from './faults';
import { ChaosResult } from './run';
import { formatViolation } from './violation';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const NOT_RUN = 'network partitions (tcp fabric in network namespaces) and the 5-node cluster were not run';

export function passed(r: ChaosResult): boolean {
  return r.error === null && r.lostAcknowledgedWrites === 0 && r.check.verdict === 'linearizable' && r.finalReads?.converged === true;
}

export function chaosJson(r: ChaosResult): object {
  const failover = Object.fromEntries(Object.entries(r.failoverMs).map(([k, xs]) => [k, { count: xs.length, medianMs: median(xs), maxMs: Math.max(...xs) }]));
  return {
    passed: passed(r),
    seed: r.seed,
    daemonArgs: r.daemonArgs,
    unknownHorizonMs: r.unknownHorizonMs,
    durationMs: r.durationMs,
    operations: r.ops,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, r.faults.filter((f) => f.kind === k).length])),
    lostAcknowledgedWrites: r.lostAcknowledgedWrites,
    linearizability: {
      verdict: r.check.verdict,
      checkedOps: r.check.checkedOps,
      weakReadsNotChecked: r.check.weakReads,
      gaveUpKeys: r.check.keys.filter((k) => k.verdict === 'gave-up').map((k) => k.key),
      violations: r.check.violations.map(formatViolation),
    },
    finalReads: r.finalReads,
    failover,
    notRun: NOT_RUN,
    error: r.error,
  };
}

export function chaosText(r: ChaosResult): string {
  const j = chaosJson(r) as ReturnType<typeof chaosJson> & Record<string, any>;
  const lines = [
    `chaos run: seed ${r.seed}, ${(r.durationMs / 1000).toFixed(0)} s, 3-node shm cluster (${r.daemonArgs.join(' ')}), unknown outcomes assumed settled within ${r.unknownHorizonMs} ms`,
    `operations done: ${r.ops.total} (${Object.entries(r.ops.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}; ${r.ops.unknown} of unknown outcome)`,
    `faults injected: ${FAULT_KINDS.map((k) => `${k} ${r.faults.filter((f) => f.kind === k).length}`).join(', ')}`,
    r.finalReads === null ? 'acknowledged writes lost: not measured (the run was aborted before the final reads)'
      : `acknowledged writes lost: ${r.lostAcknowledgedWrites}` + (r.finalReads.converged ? '' : ` (replicas did not converge on keys ${r.finalReads.divergentKeys.join(' ')})`),
    `linearizability: ${r.check.verdict} (${r.check.checkedOps} operations checked; ${r.check.weakReads} local gets recorded but not checked: followers may lag)`,
  ];
  for (const kind of FAULT_KINDS) {
    const xs = r.failoverMs[kind] ?? [];
    const missing = r.faults.filter((f) => f.kind === kind && f.failoverMs === null).length;
    lines.push(`fail-over ${kind} (fault to first acknowledged write): ${xs.length === 0 ? 'no samples' : `median ${median(xs).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} samples)`}${missing > 0 ? `; ${missing} with no write within the bound` : ''}`);
  }
  for (const v of r.check.violations.slice(0, 5)) lines.push(formatViolation(v));
  if (r.error !== null) lines.push(`error: ${r.error}`);
  lines.push(`not run: ${NOT_RUN}`);
  lines.push(`verdict: ${j.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
