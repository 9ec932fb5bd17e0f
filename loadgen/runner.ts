/**
 * One load-generator run: build the keyspace, connect, preload (gets-only), warm up, measure,
 * disconnect. Used by the three client commands and by the bench, so both measure the same way.
 */
import { performance } from 'perf_hooks';
import { LoadConnection } from './connection';
import { Engine, PhaseStats } from './engine';
import { ErrorCounts, totalErrors } from './errors';
import type { ProgressSnapshot } from './progress';
import { buildKeys, buildValue } from './keyspace';
import { LatencyRecorder } from './recorder';
import { makeRng } from './rng';
import { ClientMode, preloadOps, randomOps } from './workload';
import { WireProtocol, encodeRequests } from './wire/requests';

export interface RunOptions {
  mode: ClientMode;
  keySizeBytes: number;
  valueSizeBytes: number;
  host: string;
  port: number;
  /** Measured requests; when undefined the run lasts `durationSec`. */
  requests?: number;
  durationSec?: number;
  connections: number;
  /** Requests in flight per connection. */
  pipeline: number;
  /** puts-gets: fraction of requests that are gets. */
  getRatio: number;
  protocol: WireProtocol;
  warmupSec: number;
  seed: number;
  /** Open loop at this many requests per second in total; undefined = closed loop. */
  ratePerSec?: number;
  keyCount: number;
  timeoutMs: number;
  /** Keep every latency for memcached-cli.txt. */
  keepRaw: boolean;
  /** Called with the engine once connected, so a progress display can watch it. */
  onMeasureStart?: (snapshot: ProgressSnapshot, totalRequests: number | undefined, durationSec: number | undefined) => void;
  /** Worker threads: this run is part `part` of `parts` (own op stream, own share of the preload). */
  part?: number;
  parts?: number;
  /** Worker threads: awaited after preload and warmup, so all parts start measuring together. */
  beforeMeasure?: () => Promise<void>;
}

export interface RunResult {
  seed: number;
  requests: number;
  replies: number;
  stored: number;
  hits: number;
  misses: number;
  errors: ErrorCounts;
  errorTotal: number;
  preloadErrors: ErrorCounts;
  elapsedMs: number;
  throughputPerSec: number;
  recorder: LatencyRecorder;
  /** Wall-clock span of the measurement (performance.timeOrigin-based ms), to merge parts. */
  measureStartEpochMs: number;
  measureEndEpochMs: number;
}

const CONNECT_TIMEOUT_MS = 5000;

export function validateRunOptions(o: RunOptions): void {
  const positiveInt = (name: string, v: number | undefined): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt('--connections', o.connections);
  positiveInt('--pipeline', o.pipeline);
  positiveInt('--requests', o.requests);
  positiveInt('--keys', o.keyCount);
  positiveInt('port', o.port);
  if (o.port > 65535) throw new RangeError(`port must be 1..65535, got ${o.port}`);
  if (o.requests === undefined && (o.durationSec === undefined || !(o.durationSec > 0))) throw new RangeError('give --requests or a positive --duration');
  if (!(o.getRatio >= 0 && o.getRatio <= 1)) throw new RangeError(`--get-ratio must be in [0, 1], got ${o.getRatio}`);
  if (!(o.warmupSec >= 0)) throw new RangeError(`--warmup must be >= 0 seconds, got ${o.warmupSec}`);
  if (o.ratePerSec !== undefined && !(o.ratePerSec > 0)) throw new RangeError(`--rate must be > 0 requests/s, got ${o.ratePerSec}`);
  if (!(o.timeoutMs > 0)) throw new RangeError(`--timeout-ms must be > 0, got ${o.timeoutMs}`);
}

export async function runLoad(o: RunOptions): Promise<RunResult> {
  validateRunOptions(o);
  // Separate streams: the operation mix for a seed does not depend on key or value sizes.
  const keys = buildKeys(o.keyCount, o.keySizeBytes, makeRng(o.seed));
  const value = buildValue(o.valueSizeBytes, makeRng(o.seed ^ 0x5bd1e995));
  const part = o.part ?? 0;
  const parts = o.parts ?? 1;
  const rng = makeRng((o.seed ^ 0x9e3779b9) + part * 0x632be5ab);
  const enc = encodeRequests(o.protocol, keys, value);
  const engine = new Engine(CONNECT_TIMEOUT_MS);
  for (let i = 0; i < o.connections; i++) {
    engine.conns.push(new LoadConnection(i, o.host, o.port, o.protocol, enc, o.pipeline, engine));
  }
  try {
    await Promise.all(engine.conns.map((c) => c.connect(CONNECT_TIMEOUT_MS)));
    const base = { timeoutMs: o.timeoutMs, intervalMs: 0, recorder: null, missIsError: false };

    let preload: PhaseStats | null = null;
    if (o.mode === 'gets-only') {
      const share = preloadOps(o.keyCount, part, parts);
      preload = await engine.runPhase({ ...base, picker: share.picker, budget: share.count, deadlineMs: Infinity });
    }
    const picker = randomOps(o.mode, o.keyCount, o.getRatio, rng);
    const intervalMs = o.ratePerSec === undefined ? 0 : (1000 * o.connections) / o.ratePerSec;
    if (o.warmupSec > 0) {
      // Warm up the way the run will measure: open loop at the same rate when --rate is given.
      await engine.runPhase({ ...base, intervalMs, picker, budget: Infinity, deadlineMs: performance.now() + o.warmupSec * 1000 });
    }

    await o.beforeMeasure?.();
    const recorder = new LatencyRecorder(o.keepRaw);
    const startMs = performance.now();
    o.onMeasureStart?.(() => engine.snapshot(), o.requests, o.requests === undefined ? o.durationSec : undefined);
    const measured = await engine.runPhase({
      picker,
      budget: o.requests ?? Infinity,
      deadlineMs: o.requests === undefined ? startMs + (o.durationSec as number) * 1000 : Infinity,
      intervalMs,
      recorder,
      missIsError: o.mode === 'gets-only',
      timeoutMs: o.timeoutMs,
    });
    const elapsedMs = measured.endMs - measured.startMs;
    return {
      seed: o.seed,
      requests: measured.issued,
      replies: measured.replies,
      stored: measured.stored,
      hits: measured.hits,
      misses: measured.misses,
      errors: measured.errors,
      errorTotal: totalErrors(measured.errors),
      preloadErrors: preload?.errors ?? {},
      elapsedMs,
      throughputPerSec: elapsedMs > 0 ? (measured.replies * 1000) / elapsedMs : 0,
      recorder,
      measureStartEpochMs: performance.timeOrigin + measured.startMs,
      measureEndEpochMs: performance.timeOrigin + measured.endMs,
    };
  } finally {
    engine.closeAll();
  }
}
