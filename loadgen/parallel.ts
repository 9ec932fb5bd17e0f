/**
 * Runs one load across several worker threads, each with its share of the connections, and
 * merges the results. One JavaScript thread drives about 100k requests/s on loopback; more
 * threads keep the generator from being the bottleneck against faster servers or when the
 * machine is shared. With `threads` = 1 this is exactly runLoad.
 *
 * Split: connections and --requests are divided as evenly as possible, the open-loop rate in
 * proportion to connections; every thread preloads its share of the keys (gets-only). All
 * threads finish preload and warmup before any starts measuring.
 */
import * as fs from 'fs';
import * as hdr from 'hdr-histogram-js';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { ErrorCounts, addError, ErrorKind, totalErrors } from './errors';
import { LatencyRecorder } from './recorder';
import { RunOptions, RunResult, runLoad, validateRunOptions } from './runner';
import type { FromWorker, WorkerCounts, WorkerRunOptions } from './worker-protocol';

/** dist/loadgen/worker.js; under ts-jest (running sources) the compiled copy in dist/. */
function workerScript(): string {
  const beside = path.join(__dirname, 'worker.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', 'dist', 'loadgen', 'worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error('loadgen worker.js not found: run `npm run build` first');
}

function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

function mergeErrors(into: ErrorCounts, from: ErrorCounts): void {
  for (const k of Object.keys(from) as ErrorKind[]) addError(into, k, from[k] ?? 0);
}

export async function runLoadParallel(o: RunOptions, threads: number): Promise<RunResult> {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`--threads must be a positive integer, got ${threads}`);
  if (threads === 1) return runLoad(o);
  validateRunOptions(o);
  if (o.connections < threads) throw new RangeError(`--threads ${threads} needs at least as many --connections (got ${o.connections})`);
  const script = workerScript();
  const parts: WorkerRunOptions[] = [];
  for (let i = 0; i < threads; i++) {
    const connections = share(o.connections, threads, i);
    const { onMeasureStart: _m, beforeMeasure: _b, ...plain } = o;
    parts.push({
      ...plain,
      connections,
      requests: o.requests === undefined ? undefined : share(o.requests, threads, i),
      ratePerSec: o.ratePerSec === undefined ? undefined : (o.ratePerSec * connections) / o.connections,
      part: i,
      parts: threads,
    });
  }
  const progress = parts.map(() => ({ replies: 0, errors: {} as ErrorCounts }));
  let ready = 0;
  const workers: Worker[] = [];
  const results = parts.map((p, i) => new Promise<{ counts: WorkerCounts; histogram: hdr.Histogram; raw: Float64Array }>((resolve, reject) => {
    const w = new Worker(script, { workerData: p });
    workers.push(w);
    let settled = false;
    w.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          if (++ready === threads) {
            o.onMeasureStart?.(() => {
              const errors: ErrorCounts = {};
              for (const s of progress) mergeErrors(errors, s.errors);
              return { replies: progress.reduce((a, s) => a + s.replies, 0), errors };
            }, o.requests, o.requests === undefined ? o.durationSec : undefined);
            for (const x of workers) x.postMessage({ type: 'go' });
          }
          break;
        case 'progress':
          progress[i] = { replies: m.replies, errors: m.errors };
          break;
        case 'result':
          settled = true;
          resolve({ counts: m.counts, histogram: hdr.decodeFromCompressedBase64(m.histogramBase64), raw: m.raw });
          break;
        case 'error':
          settled = true;
          reject(new Error(m.message));
          break;
      }
    });
    w.on('error', (err) => { settled = true; reject(err); });
    w.on('exit', (code) => { if (!settled) reject(new Error(`loadgen worker ${i} exited (${code}) without a result`)); });
  }));
  let done: Awaited<(typeof results)[number]>[];
  try {
    done = await Promise.all(results);
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
  const recorder = new LatencyRecorder(o.keepRaw);
  const errors: ErrorCounts = {};
  const preloadErrors: ErrorCounts = {};
  let requests = 0, replies = 0, stored = 0, hits = 0, misses = 0;
  let startEpochMs = Infinity, endEpochMs = -Infinity;
  for (const d of done) {
    recorder.merge(d.histogram, d.raw);
    const c = d.counts;
    requests += c.requests; replies += c.replies; stored += c.stored; hits += c.hits; misses += c.misses;
    mergeErrors(errors, c.errors);
    mergeErrors(preloadErrors, c.preloadErrors);
    startEpochMs = Math.min(startEpochMs, c.measureStartEpochMs);
    endEpochMs = Math.max(endEpochMs, c.measureEndEpochMs);
  }
  const elapsedMs = endEpochMs - startEpochMs;
  return {
    seed: o.seed, requests, replies, stored, hits, misses, errors, errorTotal: totalErrors(errors), preloadErrors,
    elapsedMs, throughputPerSec: elapsedMs > 0 ? (replies * 1000) / elapsedMs : 0, recorder,
    measureStartEpochMs: startEpochMs, measureEndEpochMs: endEpochMs,
  };
}
