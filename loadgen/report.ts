/**
 * What a run prints and writes: the summary (text or JSON), `memcached-cli.txt` (one end-to-end
 * latency in ns per line, in reply order, as the old clients wrote) and a `.hgrm` percentile
 * distribution (HdrHistogram's text format, values in microseconds).
 */
import * as fs from 'fs';
import * as path from 'path';
import { formatErrors } from './errors';
import type { RunResult } from './runner';

export const LATENCY_FILE = 'memcached-cli.txt';
export const HGRM_FILE = 'memcached-cli.hgrm';
/** .hgrm values are divided by this: ns -> us. */
const HGRM_SCALE = 1000;

export interface LatencySummaryNs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

export function latencySummary(result: RunResult): LatencySummaryNs {
  const h = result.recorder.histogram;
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0, count: 0 };
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
    count: h.totalCount,
  };
}

export function formatUs(ns: number): string {
  return (ns / 1000).toFixed(1);
}

export function summaryText(title: string, r: RunResult): string {
  const l = latencySummary(r);
  return [
    `${title}`,
    `  requests ${r.requests}, replies ${r.replies} (stored ${r.stored}, hits ${r.hits}, misses ${r.misses}) in ${(r.elapsedMs / 1000).toFixed(3)} s`,
    `  throughput ${Math.round(r.throughputPerSec)} req/s`,
    `  latency us: p50 ${formatUs(l.p50)}  p90 ${formatUs(l.p90)}  p99 ${formatUs(l.p99)}  p99.9 ${formatUs(l.p999)}  max ${formatUs(l.max)}  mean ${formatUs(l.mean)}`,
    `  errors: ${formatErrors(r.errors)}${Object.keys(r.preloadErrors).length > 0 ? `  (preload errors: ${formatErrors(r.preloadErrors)})` : ''}`,
    `  seed ${r.seed}`,
  ].join('\n');
}

/** The JSON object a run prints with --json (latencies in ns). */
export function summaryJson(r: RunResult, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    seed: r.seed,
    requests: r.requests,
    replies: r.replies,
    stored: r.stored,
    hits: r.hits,
    misses: r.misses,
    errors: r.errors,
    errorTotal: r.errorTotal,
    preloadErrors: r.preloadErrors,
    elapsedMs: r.elapsedMs,
    throughputPerSec: r.throughputPerSec,
    latencyNs: latencySummary(r),
  };
}

export function hgrmText(r: RunResult): string {
  return r.recorder.histogram.outputPercentileDistribution(5, HGRM_SCALE);
}

/** Write memcached-cli.txt and memcached-cli.hgrm into `dir`; returns their paths. */
export function writeLatencyFiles(dir: string, r: RunResult): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const txtPath = path.join(dir, LATENCY_FILE);
  const raw = r.recorder.rawValues();
  const fd = fs.openSync(txtPath, 'w');
  try {
    // Written in slices so a long run does not build one giant string.
    const sliceLines = 65536;
    for (let i = 0; i < raw.length; i += sliceLines) {
      const part = Array.from(raw.subarray(i, Math.min(raw.length, i + sliceLines)), (v) => String(v)).join('\n') + '\n';
      fs.writeSync(fd, part);
    }
  } finally {
    fs.closeSync(fd);
  }
  const hgrmPath = path.join(dir, HGRM_FILE);
  fs.writeFileSync(hgrmPath, hgrmText(r));
  return [txtPath, hgrmPath];
}
