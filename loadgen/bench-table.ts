/**
 * Pure helpers of the bench: medians over repetitions and the printed table of medians and
 * ratios against stock memcached.
 */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface SampleSet {
  workload: string;
  system: string;
  throughputPerSec: number[];
  p50Ns: number[];
  p99Ns: number[];
  errors: number[];
  /** CPU per request of the process the clients talk to, and of the system's others (process-cpu.ts), µs. */
  cpuServedUs?: number[];
  cpuOthersUs?: number[];
}

export interface MedianRow {
  workload: string;
  system: string;
  runs: number;
  throughputPerSec: number;
  p50Ns: number;
  p99Ns: number;
  errors: number;
  /** Against memcached on the same workload; 1 for memcached itself, NaN if it did not run. */
  throughputRatio: number;
  p50Ratio: number;
  p99Ratio: number;
}

/** Ratios against memcached a row must meet; an absent bound is not checked. */
export interface Targets {
  minThroughputRatio?: number;
  maxP50Ratio?: number;
  maxP99Ratio?: number;
  /** Where the target comes from, for the legend. */
  source: string;
}

/** Issue 2: single-node mucached against memcached -t 1. */
export const BENCH_TARGETS: Targets = { minThroughputRatio: 0.7, maxP50Ratio: 1.2, source: 'issue 2, single node' };
/** Issue 5 / DESIGN.md: a replicated `set` through the leader of a 3-node cluster. */
export const REPLICATED_SET_TARGETS: Targets = { maxP50Ratio: 1.15, maxP99Ratio: 1.5, source: 'issue 5, replicated set' };

/**
 * The target a row is judged by: a cluster's puts-only row is the replicated-set figure; its other
 * workloads are mostly reads served locally, judged like a single node; memcached has none.
 */
export function targetFor(system: string, workload: string): Targets | null {
  if (system === BASELINE_SYSTEM) return null;
  if (system.startsWith('mucached-3-') && workload === 'puts-only') return REPLICATED_SET_TARGETS;
  return BENCH_TARGETS;
}

export function describeTarget(t: Targets): string {
  const parts: string[] = [];
  if (t.minThroughputRatio !== undefined) parts.push(`>=${t.minThroughputRatio}x req/s`);
  if (t.maxP50Ratio !== undefined) parts.push(`<=${t.maxP50Ratio}x p50`);
  if (t.maxP99Ratio !== undefined) parts.push(`<=${t.maxP99Ratio}x p99`);
  return parts.join(', ');
}

export const BASELINE_SYSTEM = 'memcached';

export function medianRows(samples: SampleSet[]): MedianRow[] {
  const base = new Map<string, SampleSet>();
  for (const s of samples) if (s.system === BASELINE_SYSTEM) base.set(s.workload, s);
  return samples.map((s) => {
    const b = base.get(s.workload);
    const t = median(s.throughputPerSec);
    const p50 = median(s.p50Ns);
    const p99 = median(s.p99Ns);
    return {
      workload: s.workload,
      system: s.system,
      runs: s.throughputPerSec.length,
      throughputPerSec: t,
      p50Ns: p50,
      p99Ns: p99,
      errors: s.errors.reduce((a, x) => a + x, 0),
      throughputRatio: b === undefined ? NaN : t / median(b.throughputPerSec),
      p50Ratio: b === undefined ? NaN : p50 / median(b.p50Ns),
      p99Ratio: b === undefined ? NaN : p99 / median(b.p99Ns),
    };
  });
}

export function verdict(r: MedianRow, t: Targets | null): string {
  if (t === null || Number.isNaN(r.throughputRatio)) return '';
  const ok = (t.minThroughputRatio === undefined || r.throughputRatio >= t.minThroughputRatio)
    && (t.maxP50Ratio === undefined || r.p50Ratio <= t.maxP50Ratio)
    && (t.maxP99Ratio === undefined || r.p99Ratio <= t.maxP99Ratio)
    && r.errors === 0;
  return ok ? 'meets target' : 'BELOW TARGET';
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ratio = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);

export function medianTable(rows: MedianRow[]): string {
  const { header, cells } = medianCells(rows);
  return formatTable(header, cells);
}

/** Numbers (and ratios like 1.20x, percentages, '-') are right-aligned; text columns left. */
export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const numeric = (i: number): boolean => rows.length > 0 && rows.every((r) => r[i] === '' || /^(-|-?[0-9][0-9.]*(x|%)?)$/.test(r[i]));
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (numeric(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The median table's cells (shared by the terminal and markdown renderings). */
export function medianCells(rows: MedianRow[]): { header: string[]; cells: string[][] } {
  return {
    header: ['workload', 'system', 'runs', 'req/s', 'p50 us', 'p99 us', 'errors', 'req/s ratio', 'p50 ratio', 'p99 ratio', 'target', 'verdict'],
    cells: rows.map((r) => {
      const t = targetFor(r.system, r.workload);
      return [
        r.workload, r.system, String(r.runs), String(Math.round(r.throughputPerSec)), (r.p50Ns / 1000).toFixed(1), (r.p99Ns / 1000).toFixed(1),
        String(r.errors), ratio(r.throughputRatio), ratio(r.p50Ratio), ratio(r.p99Ratio), t === null ? '' : describeTarget(t), verdict(r, t),
      ];
    }),
  };
}

/** One line per target in use, to print under the table. */
export function targetLegend(rows: MedianRow[]): string[] {
  const used = new Map<string, Targets>();
  for (const r of rows) {
    const t = targetFor(r.system, r.workload);
    if (t !== null) used.set(t.source, t);
  }
  return [...used.values()].map((t) => `target (${t.source}): ${describeTarget(t)} against memcached, no errors`);
}
