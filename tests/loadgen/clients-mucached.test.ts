/**
 * The three clients against single-node mucached (dist/daemon/cli.js: `npm run build` first):
 * the same counts as against memcached. A failure here is a daemon bug or a client bug; the
 * memcached suite (clients.test.ts) tells which.
 */
import * as fs from 'fs';
import { runLoad } from '../../loadgen/runner';
import type { WireProtocol } from '../../loadgen/wire/requests';
import { RunningServer, daemonCli, startMucached } from '../helpers/procs';
import { TEST_SEED, baseOptions } from './support';

let server: RunningServer;

beforeAll(async () => {
  if (!fs.existsSync(daemonCli)) throw new Error(`${daemonCli} is missing: run \`npm run build\` first`);
  server = await startMucached();
});
afterAll(async () => { await server?.stop(); });

describe(`clients against mucached (seed ${TEST_SEED})`, () => {
  for (const protocol of ['text', 'meta', 'binary'] as WireProtocol[]) {
    test(`${protocol}: puts-only, gets-only after preload, puts-gets`, async () => {
      const puts = await runLoad(baseOptions(server.port, { mode: 'puts-only', protocol }));
      expect(puts.errors).toEqual({});
      expect(puts.stored).toBe(2000);

      const gets = await runLoad(baseOptions(server.port, { mode: 'gets-only', protocol, keySizeBytes: 50 + protocol.length, valueSizeBytes: 300 }));
      expect(gets.preloadErrors).toEqual({});
      expect(gets.errors).toEqual({});
      expect(gets.hits).toBe(2000);

      const mixed = await runLoad(baseOptions(server.port, { mode: 'puts-gets', protocol, getRatio: 0.5 }));
      expect(mixed.errors).toEqual({});
      expect(mixed.replies).toBe(2000);
      expect(mixed.stored + mixed.hits + mixed.misses).toBe(2000);
    });
  }

  test('--rate: a 200 ms SIGSTOP of mucached shows in p99', async () => {
    const pid = server.proc.pid as number;
    const run = runLoad(baseOptions(server.port, { requests: undefined, durationSec: 1, ratePerSec: 2000, connections: 2, pipeline: 4 }));
    setTimeout(() => { process.kill(pid, 'SIGSTOP'); setTimeout(() => process.kill(pid, 'SIGCONT'), 200); }, 300);
    const r = await run;
    expect(r.errors).toEqual({});
    expect(r.replies).toBe(r.requests);
    expect(r.recorder.histogram.getValueAtPercentile(99)).toBeGreaterThanOrEqual(100e6);
  });
});
