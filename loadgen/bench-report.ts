/**
 * The report directory of `bench` / `compare`: <name>.md (tables of medians and ratios, the
 * leaders' replication latency, the memcslap check, notes, the plots), one latency-percentile SVG
 * per workload with a curve per system (all repetitions merged) plus, dashed, each cluster
 * leader's replication latency, and <name>.json. Meant to be pasted into, or linked from, the README.
 */
import * as fs from 'fs';
import type { Histogram } from 'hdr-histogram-js';
import * as path from 'path';
import { MedianRow, markdownTable, medianCells, targetLegend } from './bench-table';
import { PlotSeries, percentilePlotSvg, percentileSeries } from './plot-svg';
import { CPU_TABLE_HEADER, CPU_TABLE_TITLE, CpuRow, cpuCells } from './process-cpu';
import { ReplicationSummary, replicationSummary } from './replication-dump';

export interface MemcslapRow { test: string; connections: number; memcslapPerSec: number; loadgenPerSec: number; ratio: number }

/** How much of a cluster's end-to-end latency the leader spent replicating. */
export interface ReplicationRow {
  workload: string;
  system: string;
  leaderId: number;
  summary: ReplicationSummary;
  /** End-to-end p50 over all repetitions merged (same population as the replication samples' runs). */
  endToEndP50Ns: number;
  /** summary.p50Ns / endToEndP50Ns (NaN without end-to-end samples). */
  shareOfEndToEndP50: number;
}

export interface BenchReport {
  /** File stem: bench or compare. */
  name: string;
  title: string;
  rows: MedianRow[];
  memcslap: MemcslapRow[];
  /** Per workload, per system: every repetition's latencies merged. */
  histograms: Map<string, Map<string, Histogram>>;
  /** Per workload, per cluster system: the leader's replication latencies. */
  replicationHistograms: Map<string, Map<string, Histogram>>;
  replication: ReplicationRow[];
  cpu: CpuRow[];
  notes: string[];
  json: unknown;
}

export function replicationRows(
  c: { histograms: Map<string, Map<string, Histogram>>; replication: Map<string, Map<string, Histogram>> },
  rows: MedianRow[],
  leaderIdOf: (system: string) => number,
): ReplicationRow[] {
  const out: ReplicationRow[] = [];
  // Follow the median table's row order.
  for (const r of rows) {
    const h = c.replication.get(r.workload)?.get(r.system);
    if (h === undefined) continue;
    const e2e = c.histograms.get(r.workload)?.get(r.system);
    const endToEndP50Ns = e2e === undefined || e2e.totalCount === 0 ? NaN : e2e.getValueAtPercentile(50);
    const summary = replicationSummary(h);
    out.push({ workload: r.workload, system: r.system, leaderId: leaderIdOf(r.system), summary, endToEndP50Ns, shareOfEndToEndP50: summary.p50Ns / endToEndP50Ns });
  }
  return out;
}

const us = (ns: number): string => (Number.isNaN(ns) ? '-' : (ns / 1000).toFixed(1));
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '-');

export function replicationMarkdown(rows: ReplicationRow[]): string {
  return markdownTable(
    ['workload', 'system', 'leader', 'writes', 'p50 us', 'p90 us', 'p99 us', 'p99.9 us', 'max us', 'end-to-end p50 us', 'replication / end-to-end p50'],
    rows.map((r) => [r.workload, r.system, `node ${r.leaderId}`, String(r.summary.count), us(r.summary.p50Ns), us(r.summary.p90Ns), us(r.summary.p99Ns),
      us(r.summary.p999Ns), us(r.summary.maxNs), us(r.endToEndP50Ns), pct(r.shareOfEndToEndP50)]),
  );
}

export function benchMarkdown(r: BenchReport, svgFiles: Map<string, string>): string {
  const { header, cells } = medianCells(r.rows);
  const heading = r.name === 'compare' ? '# mucached compare' : '# mucached bench';
  const parts = [heading, '', r.title, '', markdownTable(header, cells), ''];
  const legend = targetLegend(r.rows);
  if (legend.length > 0) parts.push(...legend.map((l) => `- ${l}`), '');
  if (r.replication.length > 0) {
    parts.push('Leader-side replication latency (SIGUSR1\'s `dump-<id>.txt`: the leader\'s time from propose until the entry is committed by a majority and applied on the leader, ' +
      'for the writes of these runs, preload and warmup included), against the end-to-end latency the client saw:', '');
    parts.push(replicationMarkdown(r.replication), '');
  }
  if (r.cpu.length > 0) parts.push(`${CPU_TABLE_TITLE}:`, '', markdownTable(CPU_TABLE_HEADER, cpuCells(r.cpu)), '');
  if (r.memcslap.length > 0) {
    parts.push('Load generator vs memcslap against `memcached -t 1` (same connections, one request in flight each):', '');
    parts.push(markdownTable(['test', 'connections', 'memcslap req/s', 'loadgen req/s', 'ratio'],
      r.memcslap.map((m) => [m.test, String(m.connections), String(Math.round(m.memcslapPerSec)), String(Math.round(m.loadgenPerSec)), `${m.ratio.toFixed(2)}x`])), '');
  }
  if (r.notes.length > 0) parts.push('Notes:', '', ...r.notes.map((n) => `- ${n}`), '');
  for (const [workload, file] of svgFiles) parts.push(`![${workload} latency by percentile](${file})`, '');
  return parts.join('\n');
}

/** End-to-end curves first (one per system), then each cluster leader's replication curve. */
export function plotSeriesFor(workload: string, r: Pick<BenchReport, 'histograms' | 'replicationHistograms'>): PlotSeries[] {
  const series = [...(r.histograms.get(workload) ?? new Map<string, Histogram>())].map(([system, h]) => percentileSeries(system, h));
  for (const [system, h] of r.replicationHistograms.get(workload) ?? new Map<string, Histogram>()) {
    if (h.totalCount > 0) series.push({ ...percentileSeries(`${system} leader replication`, h), dashed: true });
  }
  return series;
}

export function writeBenchReport(dir: string, r: BenchReport): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const svgFiles = new Map<string, string>();
  for (const workload of r.histograms.keys()) {
    const file = `${r.name}-${workload}.svg`;
    fs.writeFileSync(path.join(dir, file), percentilePlotSvg(`${workload}: latency by percentile`, plotSeriesFor(workload, r)));
    svgFiles.set(workload, file);
    written.push(path.join(dir, file));
  }
  fs.writeFileSync(path.join(dir, `${r.name}.md`), benchMarkdown(r, svgFiles));
  fs.writeFileSync(path.join(dir, `${r.name}.json`), JSON.stringify(r.json, null, 2) + '\n');
  written.push(path.join(dir, `${r.name}.md`), path.join(dir, `${r.name}.json`));
  return written;
}
