/**
 * The leader's replication latencies from SIGUSR1's `dump-<id>.txt` (one value in ns per line,
 * oldest first; the daemon keeps the most recent ones). A bench run takes the last `n` lines, n
 * being how much `mu_replicated_writes` grew during the run, so each run gets its own writes even
 * after the daemon trimmed old samples. Pure: text in, numbers and histograms out.
 */
import * as hdr from 'hdr-histogram-js';

export const dumpFileName = (nodeId: number): string => `dump-${nodeId}.txt`;

/** Every line must be a non-negative integer (ns); a final newline is optional. */
export function parseDump(text: string, source = 'dump'): number[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((line, i) => {
    if (!/^\d+$/.test(line)) throw new Error(`${source}:${i + 1}: expected a latency in ns, got ${JSON.stringify(line.slice(0, 40))}`);
    return Number(line);
  });
}

/** The samples of the last `count` writes; fewer when the dump holds fewer (never invented). */
export function lastSamples(samplesNs: number[], count: number): number[] {
  if (count <= 0) return [];
  return samplesNs.slice(Math.max(0, samplesNs.length - count));
}

export function replicationHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export function recordSamples(h: hdr.Histogram, samplesNs: number[]): void {
  for (const ns of samplesNs) h.recordValue(Math.max(1, ns));
}

export interface ReplicationSummary {
  count: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

export function replicationSummary(h: hdr.Histogram): ReplicationSummary {
  if (h.totalCount === 0) return { count: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0, p999Ns: 0, maxNs: 0 };
  return {
    count: h.totalCount,
    p50Ns: h.getValueAtPercentile(50),
    p90Ns: h.getValueAtPercentile(90),
    p99Ns: h.getValueAtPercentile(99),
    p999Ns: h.getValueAtPercentile(99.9),
    maxNs: h.maxValue,
  };
}
