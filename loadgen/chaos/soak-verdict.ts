/**
 * The soak's memory verdict, pure. Definitions (fractions of the run's length):
 * - warm-up: the first 20% (at least 30 s when the run is long enough): caches fill, the JIT settles;
 * - level after warm-up: the median RSS of the samples in the next 10% of the run;
 * - last part: the last 25% of the run.
 * A node passes when the median RSS of its last part is within 10% of its level after warm-up
 * (the median, so one GC peak does not decide; the maximum is printed beside it).
 */
export interface RssSample { elapsedMs: number; rssKiB: number }

export interface NodeMemory {
  id: number;
  samples: number;
  baselineKiB: number;
  lastMedianKiB: number;
  lastMaxKiB: number;
  changePct: number;
  passed: boolean;
}

export const TOLERANCE = 0.10;

export function windows(durationMs: number): { warmupEndMs: number; baselineEndMs: number; lastStartMs: number } {
  const warmupEndMs = Math.min(Math.max(0.2 * durationMs, 30_000), 0.5 * durationMs);
  return { warmupEndMs, baselineEndMs: warmupEndMs + 0.1 * durationMs, lastStartMs: 0.75 * durationMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** NaN-safe: a node with no sample in a window fails (nothing was shown). */
export function nodeMemory(id: number, samples: RssSample[], durationMs: number): NodeMemory {
  const w = windows(durationMs);
  const base = samples.filter((s) => s.elapsedMs >= w.warmupEndMs && s.elapsedMs < w.baselineEndMs).map((s) => s.rssKiB);
  const last = samples.filter((s) => s.elapsedMs >= w.lastStartMs).map((s) => s.rssKiB);
  const baselineKiB = median(base);
  const lastMedianKiB = median(last);
  const changePct = 100 * (lastMedianKiB - baselineKiB) / baselineKiB;
  return {
    id,
    samples: samples.length,
    baselineKiB,
    lastMedianKiB,
    lastMaxKiB: last.length === 0 ? NaN : Math.max(...last),
    changePct,
    passed: Number.isFinite(changePct) && Math.abs(changePct) <= 100 * TOLERANCE,
  };
}

/** VmRSS of a /proc/<pid>/status text, in KiB; null when absent (a zombie or kernel thread). */
export function parseVmRssKiB(status: string): number | null {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m === null ? null : Number(m[1]);
}
