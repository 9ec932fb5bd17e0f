/**
 * The bench's report directory: bench.md (tables of medians and ratios, the memcslap check, the
 * plots), one latency-percentile SVG per workload with a curve per system (all repetitions
 * merged), and bench.json. Meant to be pasted into, or linked from, the README.
 */
import * as fs from 'fs';
import type { Histogram } from 'hdr-histogram-js';
import * as path from 'path';
import { MedianRow, markdownTable, medianCells } from './bench-table';
import { percentilePlotSvg, percentileSeries } from './plot-svg';

export interface MemcslapRow { test: string; connections: number; memcslapPerSec: number; loadgenPerSec: number; ratio: number }

export interface BenchReport {
  title: string;
  rows: MedianRow[];
  memcslap: MemcslapRow[];
  /** Per workload, per system: every repetition's latencies merged. */
  histograms: Map<string, Map<string, Histogram>>;
  json: unknown;
}

export function benchMarkdown(r: BenchReport, svgFiles: Map<string, string>): string {
  const { header, cells } = medianCells(r.rows);
  const parts = [`# mucached bench`, '', r.title, '', markdownTable(header, cells), ''];
  if (r.memcslap.length > 0) {
    parts.push('Load generator vs memcslap against `memcached -t 1` (same connections, one request in flight each):', '');
    parts.push(markdownTable(['test', 'connections', 'memcslap req/s', 'loadgen req/s', 'ratio'],
      r.memcslap.map((m) => [m.test, String(m.connections), String(Math.round(m.memcslapPerSec)), String(Math.round(m.loadgenPerSec)), `${m.ratio.toFixed(2)}x`])), '');
  }
  for (const [workload, file] of svgFiles) parts.push(`![${workload} latency by percentile](${file})`, '');
  return parts.join('\n');
}

export function writeBenchReport(dir: string, r: BenchReport): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const svgFiles = new Map<string, string>();
  for (const [workload, bySystem] of r.histograms) {
    const file = `bench-${workload}.svg`;
    const series = [...bySystem].map(([system, h]) => percentileSeries(system, h));
    fs.writeFileSync(path.join(dir, file), percentilePlotSvg(`${workload}: latency by percentile`, series));
    svgFiles.set(workload, file);
    written.push(path.join(dir, file));
  }
  fs.writeFileSync(path.join(dir, 'bench.md'), benchMarkdown(r, svgFiles));
  fs.writeFileSync(path.join(dir, 'bench.json'), JSON.stringify(r.json, null, 2) + '\n');
  written.push(path.join(dir, 'bench.md'), path.join(dir, 'bench.json'));
  return written;
}
