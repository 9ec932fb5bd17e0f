/**
 * Open loop (--rate) measures from the intended send time: when the server is paused (SIGSTOP)
 * for 200 ms, every request scheduled during the pause is late by up to 200 ms, and with about a
 * fifth of the run's requests scheduled then, the recorded p99 must show the stall. A closed-loop
 * client would record only the few requests in flight at the time (coordinated omission).
 */
import { runLoad } from '../../loadgen/runner';
import type { RunningServer } from '../helpers/procs';
import { TEST_SEED, baseOptions, memcachedAsUs } from './support';

const STALL_MS = 200;
let server: RunningServer;

beforeAll(async () => { server = await memcachedAsUs(); });
afterAll(async () => {
  if (server?.proc.pid !== undefined && server.proc.exitCode === null) process.kill(server.proc.pid, 'SIGCONT');
  await server?.stop();
});

function pauseServer(atMs: number): Promise<void> {
  const pid = server.proc.pid as number;
  return new Promise((resolve) => {
    setTimeout(() => {
      process.kill(pid, 'SIGSTOP');
      setTimeout(() => { process.kill(pid, 'SIGCONT'); resolve(); }, STALL_MS);
    }, atMs);
  });
}

test(`--rate: a ${STALL_MS} ms SIGSTOP of the server shows in p99 (seed ${TEST_SEED})`, async () => {
  const ratePerSec = 2000;
  const durationSec = 1;
  const run = runLoad(baseOptions(server.port, { requests: undefined, durationSec, ratePerSec, connections: 2, pipeline: 4 }));
  const paused = pauseServer(300);
  const r = await run;
  await paused;
  expect(r.errors).toEqual({});
  expect(r.replies).toBe(r.requests);
  // The schedule, not the server's speed, decides how many requests there are.
  expect(r.requests).toBeGreaterThanOrEqual(ratePerSec * durationSec * 0.98);
  expect(r.requests).toBeLessThanOrEqual(ratePerSec * durationSec + 2);
  const h = r.recorder.histogram;
  // ~400 of ~2000 requests were scheduled inside the stall: their latencies spread over 0..200 ms.
  expect(h.getValueAtPercentile(99)).toBeGreaterThanOrEqual(0.5 * STALL_MS * 1e6);
  expect(h.maxValue).toBeGreaterThanOrEqual(0.8 * STALL_MS * 1e6);
  // At least a tenth of all requests waited 50 ms or more.
  expect(h.getValueAtPercentile(90)).toBeGreaterThanOrEqual(0.25 * STALL_MS * 1e6);
});

test('--rate keeps the schedule when the server keeps up', async () => {
  const r = await runLoad(baseOptions(server.port, { requests: 300, ratePerSec: 1000, connections: 3, pipeline: 2 }));
  expect(r.errors).toEqual({});
  expect(r.replies).toBe(300);
  // 300 requests at 1000/s take at least the 0.3 s the schedule spans.
  expect(r.elapsedMs).toBeGreaterThanOrEqual(290);
});
