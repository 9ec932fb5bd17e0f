/**
 * Latency recording: every measured reply's end-to-end latency in nanoseconds goes into an
 * HdrHistogram (3 significant digits, auto-resizing, so no value is clamped) and, when the run
 * writes `memcached-cli.txt`, into a growable array of raw values in arrival order.
 */
import * as hdr from 'hdr-histogram-js';

export class LatencyRecorder {
  readonly histogram: hdr.Histogram;
  private raw: Float64Array | null;
  private rawCount = 0;

  constructor(keepRaw: boolean) {
    this.histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
    this.raw = keepRaw ? new Float64Array(1 << 16) : null;
  }

  recordNs(latencyNs: number): void {
    const ns = latencyNs < 1 ? 1 : Math.round(latencyNs);
    this.histogram.recordValue(ns);
    if (this.raw !== null) {
      if (this.rawCount === this.raw.length) {
        const grown = new Float64Array(this.raw.length * 2);
        grown.set(this.raw);
        this.raw = grown;
      }
      this.raw[this.rawCount++] = ns;
    }
  }

  /** Adds another recorder's values (worker threads); raw values are appended after ours. */
  merge(histogram: hdr.Histogram, raw: Float64Array): void {
    this.histogram.add(histogram);
    if (this.raw === null) return;
    if (this.rawCount + raw.length > this.raw.length) {
      const grown = new Float64Array(Math.max(this.raw.length * 2, this.rawCount + raw.length));
      grown.set(this.raw.subarray(0, this.rawCount));
      this.raw = grown;
    }
    this.raw.set(raw, this.rawCount);
    this.rawCount += raw.length;
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Raw latencies (ns) in the order replies arrived; empty when not kept. */
  rawValues(): Float64Array {
    return this.raw === null ? new Float64Array(0) : this.raw.subarray(0, this.rawCount);
  }
}
