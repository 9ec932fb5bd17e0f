/**
 * Messages between the parallel runner and its worker threads. Functions cannot cross threads,
 * so a worker gets the plain run options and reports counts, an encoded histogram and raw values.
 */
import type { ErrorCounts } from './errors';
import type { RunOptions } from './runner';

export type WorkerRunOptions = Omit<RunOptions, 'onMeasureStart' | 'beforeMeasure'>;

export type ToWorker = { type: 'go' };

export interface WorkerCounts {
  requests: number;
  replies: number;
  stored: number;
  hits: number;
  misses: number;
  errors: ErrorCounts;
  preloadErrors: ErrorCounts;
  measureStartEpochMs: number;
  measureEndEpochMs: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; replies: number; errors: ErrorCounts }
  | { type: 'result'; counts: WorkerCounts; histogramBase64: string; raw: Float64Array }
  | { type: 'error'; message: string };
