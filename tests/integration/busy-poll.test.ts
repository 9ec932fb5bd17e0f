/**
 * `--busy-poll-us`: after input the daemon keeps its event loop polling for the window, then sleeps.
 * What a user notices besides latency is the CPU: a polling daemon uses a core for the window after
 * a request and nothing once it has passed; one without the option uses nothing either way. Real
 * processes; CPU read from /proc with wide margins (the window is half a second, the thresholds a
 * fifth of it), never a latency.
 */
import { spawnSync } from 'child_process';
import { exchange } from '../helpers/cluster';
import { daemonCli, repoRoot, RunningServer, startMucached } from '../helpers/procs';
import { processCpuUs } from '../../loadgen/process-cpu';
import { waitUntil } from '../../loadgen/wait';
import * as path from 'path';

jest.setTimeout(30_000);

const WINDOW_US = 500_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU microseconds `server` uses during `ms` milliseconds after `start()` is called. */
async function cpuDuring(server: RunningServer, ms: number, start: () => Promise<unknown> = async () => undefined): Promise<number> {
  const before = processCpuUs(server.proc.pid!);
  await start();
  await sleep(ms);
  return processCpuUs(server.proc.pid!) - before;
}

test('refuses a window that is not a whole number of microseconds from 0 to 1000000, naming the option', () => {
  for (const bad of ['-1', '1.5', '1000001', 'soon']) {
    const r = spawnSync(process.execPath, [daemonCli, '-p', '0', '--busy-poll-us', bad], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--busy-poll-us .*must be an integer from 0 to 1000000/);
  }
});

test('a polling daemon uses CPU for the window after a request and sleeps after it; its start-up line names the window', async () => {
  const polling = await startMucached(['--busy-poll-us', String(WINDOW_US)]);
  const plain = await startMucached();
  try {
    // The line comes once the port listens (the helper waited for the port only).
    await waitUntil(() => polling.output().includes(`polls ${WINDOW_US} us after input`), 5000, 'the start-up line');
    await waitUntil(() => plain.output().includes('listening on'), 5000, 'the start-up line');
    expect(plain.output()).not.toContain('after input');

    const windowMs = WINDOW_US / 1000;
    const request = (s: RunningServer) => () => exchange(s.port, 'set bp 0 0 2\r\nhi\r\n', (r) => r.endsWith('\r\n'));
    // Within the window after a request: the polling daemon spins; the other does not.
    const pollingBusy = await cpuDuring(polling, windowMs * 0.8, request(polling));
    const plainBusy = await cpuDuring(plain, windowMs * 0.8, request(plain));
    // Once the window has passed, both sleep.
    await sleep(windowMs * 0.4);
    const pollingAfter = await cpuDuring(polling, windowMs);
    const detail = `CPU us: polling during ${pollingBusy}, after ${pollingAfter}; plain during ${plainBusy}`;
    expect({ detail, spins: pollingBusy >= WINDOW_US / 5 }).toEqual({ detail, spins: true });
    expect({ detail, plainSleeps: plainBusy < WINDOW_US / 5 }).toEqual({ detail, plainSleeps: true });
    expect({ detail, stopsAfterWindow: pollingAfter < WINDOW_US / 5 }).toEqual({ detail, stopsAfterWindow: true });
  } finally {
    await polling.stop();
    await plain.stop();
  }
});

test('the bench starts mucached with the window it is given', async () => {
  // The built module: it finds the daemon beside itself in dist/.
  const { startServer } = require(path.join(repoRoot, 'dist', 'loadgen', 'servers.js')) as typeof import('../../loadgen/servers');
  const server = await startServer('mucached', { mucachedArgs: ['--busy-poll-us', '200'] });
  try {
    await waitUntil(() => server.output().includes('polls 200 us after input'), 5000, 'a start-up line naming the window');
  } finally {
    await server.stop();
  }
});
