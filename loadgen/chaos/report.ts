/** The chaos run's report: a text summary for people and a JSON document for scripts. */
import { Fault } from './faults';
import { GaveUp } from './linearizability';
import { ChaosResult } from './run';
import { ALL_FAULT_KINDS, FaultKind, quotaMet } from './schedule';
import { formatViolation } from './violation';
import { unknownHorizonAfter } from './horizon';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function stat(xs: number[]): { count: number; medianMs: number; maxMs: number } | null {
  return xs.length === 0 ? null : { count: xs.length, medianMs: median(xs), maxMs: Math.max(...xs) };
}

/** What this run could not exercise, given its fabric. */
export function notRun(r: ChaosResult): string | null {
  return r.fabric === 'shm' ? `network partitions (${ALL_FAULT_KINDS.filter((k) => !r.faultOptions.kinds.includes(k)).join(', ')}) need --fabric tcp` : null;
}

function counts(r: ChaosResult): Map<FaultKind, number> {
  const m = new Map<FaultKind, number>();
  for (const f of r.faults) m.set(f.kind, (m.get(f.kind) ?? 0) + 1);
  return m;
}

export function passed(r: ChaosResult): boolean {
  return r.error === null && r.lostAcknowledgedWrites === 0 && r.check.verdict === 'linearizable' && r.finalReads?.converged === true
    && quotaMet(counts(r), r.faultOptions.kinds, r.faultOptions.faultsPerKind);
}

function oldLeaderTotals(faults: Fault[]): { acked: number; refused: number; unknown: number } {
  const t = { acked: 0, refused: 0, unknown: 0 };
  for (const f of faults) if (f.oldLeaderWrites) { t.acked += f.oldLeaderWrites.acked; t.refused += f.oldLeaderWrites.refused; t.unknown += f.oldLeaderWrites.unknown; }
  return t;
}

export function chaosJson(r: ChaosResult): object {
  const c = counts(r);
  const perKind = Object.fromEntries(r.faultOptions.kinds.map((k) => {
    const of = r.faults.filter((f) => f.kind === k);
    return [k, {
      count: of.length,
      failover: stat(of.flatMap((f) => (f.failoverMs === null ? [] : [f.failoverMs]))),
      noWriteWithinBound: of.filter((f) => f.failoverMs === null).length,
      rejoin: stat(of.flatMap((f) => (f.rejoinMs == null ? [] : [f.rejoinMs]))),
      recovery: stat(of.map((f) => f.recoveredMs - f.atMs)),
    }];
  }));
  return {
    passed: passed(r),
    seed: r.seed,
    fabric: r.fabric,
    nodes: r.nodes,
    daemonArgs: r.daemonArgs,
    unknownHorizonMs: r.unknownHorizonMs,
    durationMs: r.durationMs,
    elapsedMs: r.elapsedMs,
    faultsPerKind: r.faultOptions.faultsPerKind,
    quotaMet: quotaMet(c, r.faultOptions.kinds, r.faultOptions.faultsPerKind),
    operations: r.ops,
    faults: perKind,
    oldLeaderWrites: oldLeaderTotals(r.faults),
    lostAcknowledgedWrites: r.lostAcknowledgedWrites,
    linearizability: {
      verdict: r.check.verdict,
      checkedOps: r.check.checkedOps,
      weakReadsNotChecked: r.check.weakReads,
      steps: r.check.steps,
      gaveUpKeys: r.check.keys.filter((k) => k.verdict === 'gave-up').map((k) => k.key),
      gaveUp: r.check.keys.flatMap((k) => (k.gaveUp ? [{ key: k.key, ...k.gaveUp }] : [])),
      violations: r.check.violations.map(formatViolation),
    },
    finalReads: r.finalReads,
    notRun: notRun(r),
    error: r.error,
  };
}

export function describeFault(f: Fault): string {
  return `${f.kind} of node ${f.node} at ${f.atMs.toFixed(1)} ms` + (f.cuts ? ` (cut ${f.cuts.join(' ')})` : '') + (f.heldMs !== undefined ? ` held ${f.heldMs} ms` : '')
    + `, recovered at ${f.recoveredMs.toFixed(1)} ms`;
}

const ms = (x: number): string => `${x.toFixed(1)} ms`;

/** Which segment of a key the check stopped in, and why: enough to find it in a saved history. */
export function describeGaveUp(key: string, g: GaveUp): string {
  const why = g.bound === 'segment' ? 'the bound on one segment' : "the bound on the whole check ran out (earlier keys' segments took it)";
  return `  key ${JSON.stringify(key)} gave up in segment ${g.segment}: ${g.ops} operations (${g.unknownOps} of unknown outcome) from ${ms(g.fromMs)} to ${ms(g.toMs)}, `
    + `${g.steps} search steps, ${why}`;
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}

/** Says how much of the horizon the lose-majority faults added (horizon.ts unknownHorizonAfter). */
function horizonNote(r: ChaosResult): string {
  const lossMs = unknownHorizonAfter(0, r.faults);
  return lossMs === 0 ? '' : ` (${r.unknownHorizonMs - lossMs} ms + ${lossMs} ms, the longest lose-majority fault: a leader left without a majority commits what it held once the others are back)`;
}

export function chaosText(r: ChaosResult): string {
  const c = counts(r);
  const met = quotaMet(c, r.faultOptions.kinds, r.faultOptions.faultsPerKind);
  const old = oldLeaderTotals(r.faults);
  const lines = [
    `chaos run: seed ${r.seed}, ${r.nodes}-node ${r.fabric} cluster${r.fabric === 'tcp' ? ' (one network namespace per node)' : ''} (${r.daemonArgs.join(' ')}), fault phase ${(r.elapsedMs / 1000).toFixed(0)} s of ${(r.durationMs / 1000).toFixed(0)} s asked`,
    `unknown outcomes assumed settled within ${r.unknownHorizonMs} ms` + horizonNote(r),
    `operations done: ${r.ops.total} (${Object.entries(r.ops.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}; ${r.ops.unknown} of unknown outcome)`,
    `faults injected: ${r.faults.length}` + (r.faultOptions.faultsPerKind === null ? '' : `; quota ${r.faultOptions.faultsPerKind} per kind ${met ? 'met' : 'NOT met'}`),
  ];
  const widths = [20, 6, 16, 16, 16, 16];
  lines.push(row(['kind', 'count', 'fail-over med', 'fail-over max', 'rejoin med', 'recovery med'], widths));
  for (const k of r.faultOptions.kinds) {
    const of = r.faults.filter((f) => f.kind === k);
    const fo = of.flatMap((f) => (f.failoverMs === null ? [] : [f.failoverMs]));
    const rj = of.flatMap((f) => (f.rejoinMs == null ? [] : [f.rejoinMs]));
    const missing = of.filter((f) => f.failoverMs === null).length;
    lines.push(row([k, String(of.length), fo.length ? ms(median(fo)) : '-', fo.length ? ms(Math.max(...fo)) : '-', rj.length ? ms(median(rj)) : '-',
      of.length ? ms(median(of.map((f) => f.recoveredMs - f.atMs))) : '-'], widths) + (missing > 0 ? `  (${missing} with no write within the bound)` : ''));
  }
  lines.push('  (fail-over: fault to the first acknowledged write through a node not at fault; rejoin: restart to the node serving that write;');
  lines.push('   recovery: fault to every node up and agreeing on one leader)');
  if (r.faultOptions.kinds.includes('partition-leader')) {
    lines.push(`writes sent to a cut-off old leader: ${old.acked} acknowledged, ${old.refused} refused with an error, ${old.unknown} timed out or closed`);
  }
  lines.push(
    r.finalReads === null ? 'acknowledged writes lost: not measured (the run was aborted before the final reads)'
      : `acknowledged writes lost: ${r.lostAcknowledgedWrites}` + (r.finalReads.converged ? '' : ` (replicas did not converge on keys ${r.finalReads.divergentKeys.join(' ')})`),
    `linearizability: ${r.check.verdict} (${r.check.checkedOps} operations checked in ${r.check.steps} search steps; ${r.check.weakReads} local gets recorded but not checked: followers may lag`
      + `${r.check.violations.length > 0 ? `; ${r.check.violations.length} of ${r.check.keys.length} keys with a violation, the first 5 below` : ''})`,
  );
  for (const k of r.check.keys) if (k.gaveUp) lines.push(describeGaveUp(k.key, k.gaveUp));
  for (const v of r.check.violations.slice(0, 5)) {
    lines.push(formatViolation(v));
    const fromMs = Math.min(...v.window.map((op) => op.invokeMs)) - 5000;
    const toMs = Math.max(...v.window.map((op) => (op.returnMs === Infinity ? op.invokeMs : op.returnMs))) + 1000;
    const near = r.faults.filter((f) => f.recoveredMs >= fromMs && f.atMs <= toMs);
    lines.push(`  faults around it: ${near.length === 0 ? 'none' : near.map(describeFault).join('; ')}`);
  }
  if (r.error !== null) lines.push(`error: ${r.error}`);
  if (r.logFiles.length > 0) lines.push(`node logs (lines stamped with the history's clock, 0 ms = ${r.startedAtIso}): ${r.logFiles.join(' ')}`);
  const nr = notRun(r);
  if (nr !== null) lines.push(`not run: ${nr}`);
  lines.push(`verdict: ${passed(r) ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
