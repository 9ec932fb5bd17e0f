/**
 * `shutdown` (memcached's -A) on a cluster leader stops it the way SIGTERM does: it hands the lead
 * to the next node before it exits, so the command loses no acknowledged write and the other two
 * go on serving writes under the new leader.
 */
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';

jest.setTimeout(120_000);
// Whole clusters of real processes on a shared 2-core machine: a run starved of CPU long enough to
// miss an election is retried; the failure of the first attempt is still printed.
jest.retryTimes(2, { logErrorsBeforeRetry: true });

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', '32', '-A']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
});

afterEach(async () => {
  await cluster?.stopAll();
});

const port = (id: number) => cluster.nodes[id - 1].clientPort;

test('shutdown on the leader hands over, exits 0, and the survivors keep every write and take new ones', async () => {
  const leader = await waitForLeader(cluster);
  const survivors = [1, 2, 3].filter((id) => id !== leader);
  expect(await exchange(port(leader), 'set before 0 0 6\r\nbefore\r\n', (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
  const proc = cluster.nodes[leader - 1].proc!;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  // No reply: memcached closes the connection of the shutdown command.
  await expect(exchange(port(leader), 'shutdown\r\n', () => false, 10_000)).rejects.toThrow(/closed the connection before a complete reply \(got ""\)/);
  expect(await exited).toBe(0);
  const log = cluster.nodes[leader - 1].output;
  expect(log).toContain('shutdown command received, shutting down');
  expect(log).toMatch(/handed leadership to node \d/);
  const next = await waitForLeader(cluster);
  expect(survivors).toContain(next);
  for (const id of survivors) await waitForValue(port(id), 'before', 'before');
  expect(await exchange(port(next), 'set after 0 0 5\r\nafter\r\n', (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
  for (const id of survivors) await waitForValue(port(id), 'after', 'after');
});
