/**
 * A worker thread of the parallel runner: runs its share of the connections with runLoad, waits
 * for 'go' between warmup and measurement, reports progress and then its result.
 */
import * as hdr from 'hdr-histogram-js';
import { parentPort, workerData } from 'worker_threads';
import { runLoad } from './runner';
import type { FromWorker, ToWorker, WorkerRunOptions } from './worker-protocol';

/** Faster than the bar's refresh, so each refresh sees fresh counts from every thread. */
const PROGRESS_MS = 100;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(msg, transfer);
}

async function main(): Promise<void> {
  const options = workerData as WorkerRunOptions;
  let progressTimer: NodeJS.Timeout | null = null;
  const go = new Promise<void>((resolve) => {
    parentPort?.on('message', (m: ToWorker) => { if (m.type === 'go') resolve(); });
  });
  try {
    const r = await runLoad({
      ...options,
      beforeMeasure: async () => { post({ type: 'ready' }); await go; },
      onMeasureStart: (snapshot) => {
        progressTimer = setInterval(() => { const s = snapshot(); post({ type: 'progress', replies: s.replies, errors: s.errors }); }, PROGRESS_MS);
      },
    });
    if (progressTimer !== null) clearInterval(progressTimer);
    const raw = Float64Array.from(r.recorder.rawValues());
    post({
      type: 'result',
      counts: {
        requests: r.requests, replies: r.replies, stored: r.stored, hits: r.hits, misses: r.misses,
        errors: r.errors, preloadErrors: r.preloadErrors, measureStartEpochMs: r.measureStartEpochMs, measureEndEpochMs: r.measureEndEpochMs,
      },
      histogramBase64: hdr.encodeIntoCompressedBase64(r.recorder.histogram),
      raw,
    }, [raw.buffer as ArrayBuffer]);
  } catch (err) {
    if (progressTimer !== null) clearInterval(progressTimer);
    post({ type: 'error', message: (err as Error).message });
  }
  parentPort?.close();
}

void main();
