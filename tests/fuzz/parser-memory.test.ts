/**
 * No memory growth in the parsers under a long stream of fuzzed input: tests/fuzz/memory-soak.ts
 * runs 200k mutated inputs through the ASCII (text + meta) and binary parsers in its own process
 * (node --expose-gc), and reports the heap after a forced GC at the end of each quarter. The heap at
 * the end must not exceed the heap after the first quarter (when pools and JIT have settled) by more
 * than a few bytes per input. Replay a failure with FUZZ_SEED=<seed>.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { FUZZ_SEED } from './fuzz-config';

const ITERATIONS = 200_000;
/** Slack for GC noise: a leak of 48 bytes per input over the last three quarters exceeds it. */
const MAX_GROWTH_BYTES = 48 * ITERATIONS * 0.75;

interface Report {
  seed: number;
  iterations: number;
  quarters: Array<{ heapUsedBytes: number; arrayBuffersBytes: number }>;
  commands: number;
}

test('parsers: 200k fuzzed inputs, heap after GC does not grow between the first and last quarter', () => {
  const run = spawnSync(process.execPath, [
    '--expose-gc', '--max-old-space-size=512', '-r', path.join(__dirname, 'ts-register.js'),
    path.join(__dirname, 'memory-soak.ts'), String(FUZZ_SEED), String(ITERATIONS),
  ], { encoding: 'utf8', timeout: 150_000 });
  if (run.status !== 0) {
    throw new Error(`memory soak failed (status ${run.status}, signal ${run.signal}); replay with FUZZ_SEED=${FUZZ_SEED}\n${run.stderr.slice(-4000)}`);
  }
  const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as Report;
  expect(report.seed).toBe(FUZZ_SEED);
  expect(report.iterations).toBe(ITERATIONS);
  expect(report.quarters).toHaveLength(4);
  expect(report.commands).toBeGreaterThan(ITERATIONS); // the inputs really were parsed into commands
  const total = (q: Report['quarters'][number]) => q.heapUsedBytes + q.arrayBuffersBytes;
  const growth = total(report.quarters[3]) - total(report.quarters[0]);
  if (growth > MAX_GROWTH_BYTES) {
    throw new Error(`heap grew by ${growth} bytes over ${ITERATIONS * 0.75} inputs (bound ${MAX_GROWTH_BYTES}); seed ${FUZZ_SEED}: ${JSON.stringify(report.quarters)}`);
  }
}, 180_000);
