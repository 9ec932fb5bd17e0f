/**
 * The three clients against a real memcached: every request answered, each kind of reply
 * counted, gets-only hits after its own preload, in all three protocols.
 */
import { runLoad } from '../../loadgen/runner';
import type { WireProtocol } from '../../loadgen/wire/requests';
import type { RunningServer } from '../helpers/procs';
import { TEST_SEED, baseOptions, memcachedAsUs } from './support';

const PROTOCOLS: WireProtocol[] = ['text', 'meta', 'binary'];
let server: RunningServer;

beforeAll(async () => { server = await memcachedAsUs(); });
afterAll(async () => { await server?.stop(); });

describe(`clients against memcached (seed ${TEST_SEED})`, () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: puts-only stores every request`, async () => {
      const r = await runLoad(baseOptions(server.port, { mode: 'puts-only', protocol }));
      expect(r.errors).toEqual({});
      expect(r.requests).toBe(2000);
      expect(r.replies).toBe(2000);
      expect(r.stored).toBe(2000);
      expect(r.recorder.count).toBe(2000);
    });

    test(`${protocol}: gets-only hits every key it preloaded`, async () => {
      // A key size not used by any other test, so only this run's preload can make gets hit.
      const r = await runLoad(baseOptions(server.port, { mode: 'gets-only', protocol, keySizeBytes: 23 + PROTOCOLS.indexOf(protocol), valueSizeBytes: 100 }));
      expect(r.preloadErrors).toEqual({});
      expect(r.errors).toEqual({});
      expect(r.replies).toBe(2000);
      expect(r.hits).toBe(2000);
      expect(r.misses).toBe(0);
    });

    test(`${protocol}: puts-gets splits by --get-ratio and answers all`, async () => {
      const r = await runLoad(baseOptions(server.port, { mode: 'puts-gets', protocol, getRatio: 0.75, keySizeBytes: 30 + PROTOCOLS.indexOf(protocol) }));
      expect(r.errors).toEqual({});
      expect(r.replies).toBe(2000);
      expect(r.stored + r.hits + r.misses).toBe(2000);
      expect(r.hits + r.misses).toBeGreaterThan(1300); // 1500 expected; binomial sd ~19
      expect(r.hits + r.misses).toBeLessThan(1700);
      expect(r.hits).toBeGreaterThan(0);
    });
  }

  test('gets-only on keys that are not there counts misses as errors', async () => {
    // Values larger than memcached's item limit (-I 1m default) are refused, so the preload fails
    // and every get misses: both must show, never hidden.
    const r = await runLoad(baseOptions(server.port, { mode: 'gets-only', valueSizeBytes: 2 * 1024 * 1024, keyCount: 4, requests: 40, connections: 1, pipeline: 1 }));
    expect(r.preloadErrors.server_error).toBe(4);
    expect(r.errors.miss).toBe(40);
    expect(r.hits).toBe(0);
  });

  test('--duration runs for its time and drains what is in flight', async () => {
    const r = await runLoad(baseOptions(server.port, { requests: undefined, durationSec: 0.5, connections: 2, pipeline: 8 }));
    expect(r.errors).toEqual({});
    expect(r.requests).toBeGreaterThan(0);
    expect(r.replies).toBe(r.requests);
    // The deadline is taken from the runner's clock read a few microseconds before the engine's
    // own start mark, so the measured span may fall short of 500 ms by that much, never by 1 ms.
    expect(r.elapsedMs).toBeGreaterThan(499);
  });

  test('the same seed gives the same operation mix', async () => {
    const a = await runLoad(baseOptions(server.port, { mode: 'puts-gets', keySizeBytes: 40, requests: 500, connections: 1, pipeline: 1 }));
    const b = await runLoad(baseOptions(server.port, { mode: 'puts-gets', keySizeBytes: 41, requests: 500, connections: 1, pipeline: 1 }));
    expect(a.stored).toBe(b.stored);
    expect(a.hits + a.misses).toBe(b.hits + b.misses);
  });

  test('a server that goes away is counted as connection errors, not hidden', async () => {
    const doomed = await memcachedAsUs();
    const run = runLoad(baseOptions(doomed.port, { requests: undefined, durationSec: 1, connections: 2, pipeline: 2 }));
    setTimeout(() => { void doomed.stop(); }, 200);
    const r = await run;
    expect(r.errors.connection ?? 0).toBeGreaterThan(0);
  });

  test('requests unanswered for --timeout-ms count as timeouts; the run goes on after', async () => {
    const paused = await memcachedAsUs();
    const pid = paused.proc.pid as number;
    try {
      const run = runLoad(baseOptions(paused.port, { requests: undefined, durationSec: 1.2, connections: 2, pipeline: 2, timeoutMs: 150 }));
      await new Promise((r) => setTimeout(r, 200));
      process.kill(pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 600));
      process.kill(pid, 'SIGCONT');
      const r = await run;
      expect(r.errors.timeout ?? 0).toBeGreaterThanOrEqual(1);
      expect(r.replies).toBeGreaterThan(0);
      expect(r.replies).toBeLessThan(r.requests);
      // Every request ends once: answered, timed out, or lost with its connection.
      expect(r.replies + (r.errors.timeout ?? 0) + (r.errors.connection ?? 0)).toBeGreaterThanOrEqual(r.requests);
    } finally {
      process.kill(pid, 'SIGCONT');
      await paused.stop();
    }
  });

  test('nothing listening: the run fails to start with a clear error', async () => {
    const probe = await memcachedAsUs();
    const port = probe.port;
    await probe.stop();
    await expect(runLoad(baseOptions(port))).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});
