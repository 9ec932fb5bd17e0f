/**
 * A one-line progress bar on stderr while a run measures: percent done, current rate, elapsed
 * time, errors. Only on a terminal and never with --json, so piped output stays clean.
 */
import { performance } from 'perf_hooks';
import { ErrorCounts, totalErrors } from './errors';

/** What the bar shows: replies and errors of the measurement so far. */
export type ProgressSnapshot = () => { replies: number; errors: ErrorCounts };

const REFRESH_MS = 250;
const BAR_CELLS = 30;

export interface Progress {
  start(snapshot: ProgressSnapshot, totalRequests: number | undefined, durationSec: number | undefined): void;
  stop(): void;
}

export function progressBar(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  let timer: NodeJS.Timeout | null = null;
  return {
    start(snapshot, totalRequests, durationSec) {
      if (!enabled || !stream.isTTY) return;
      const t0 = performance.now();
      let lastReplies = 0;
      let lastMs = t0;
      timer = setInterval(() => {
        const s = snapshot();
        const now = performance.now();
        const elapsedSec = (now - t0) / 1000;
        const done = totalRequests !== undefined ? s.replies / totalRequests : durationSec !== undefined ? elapsedSec / durationSec : 0;
        const fraction = Math.max(0, Math.min(1, done));
        const cells = Math.round(fraction * BAR_CELLS);
        const rate = ((s.replies - lastReplies) * 1000) / Math.max(1, now - lastMs);
        lastReplies = s.replies;
        lastMs = now;
        stream.write(`\r[${'#'.repeat(cells)}${' '.repeat(BAR_CELLS - cells)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${Math.round(rate)} req/s  ${elapsedSec.toFixed(1)} s  errors ${totalErrors(s.errors)}  `);
      }, REFRESH_MS);
      timer.unref();
    },
    stop() {
      if (timer === null) return;
      clearInterval(timer);
      timer = null;
      stream.write('\r\x1b[K');
    },
  };
}
