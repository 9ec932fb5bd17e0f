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

export interface Targets {
  minThroughputRatio: number;
  maxP50Ratio: number;
}

export const BENCH_TARGETS: Targets = { minThroughputRatio: 0.7, maxP50Ratio: 1.2 };
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

function verdict(r: MedianRow, t: Targets): string {
  if (r.system === BASELINE_SYSTEM || Number.isNaN(r.throughputRatio)) return '';
  const ok = r.throughputRatio >= t.minThroughputRatio && r.p50Ratio <= t.maxP50Ratio && r.errors === 0;
  return ok ? 'meets target' : 'BELOW TARGET';
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ratio = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);

export function medianTable(rows: MedianRow[], t: Targets = BENCH_TARGETS): string {
  const { header, cells } = medianCells(rows, t);
  return formatTable(header, cells);
}

export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The median table's cells (shared by the terminal and markdown renderings). */
export function medianCells(rows: MedianRow[], t: Targets = BENCH_TARGETS): { header: string[]; cells: string[][] } {
  return {
    header: ['workload', 'system', 'runs', 'req/s', 'p50 us', 'p99 us', 'errors', 'req/s ratio', 'p50 ratio', 'p99 ratio', `target (>=${t.minThroughputRatio}x req/s, <=${t.maxP50Ratio}x p50)`],
    cells: rows.map((r) => [
      r.workload, r.system, String(r.runs), String(Math.round(r.throughputPerSec)), (r.p50Ns / 1000).toFixed(1), (r.p99Ns / 1000).toFixed(1),
      String(r.errors), ratio(r.throughputRatio), ratio(r.p50Ratio), ratio(r.p99Ratio), verdict(r, t),
    ]),
  };
}
