/**
 * Real processes on shm: the state directory's mark (daemon/cluster/membership-mark.ts) tells a
 * node's restart from its first start. A restarted node waits for a leader to sync it before it
 * votes, even with no client writing; a cluster whose every node was killed starts anew; without a
 * state directory the daemon says what it cannot know; a directory it cannot write stops the start.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { makeCluster, setUntilStored, TestCluster, textSet, waitForLeader, waitForValue } from '../helpers/cluster';
import { daemonCli } from '../helpers/procs';

jest.setTimeout(120_000);

let cluster: TestCluster;
afterEach(async () => { await cluster?.stopAll(); });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForOutput(cluster: TestCluster, id: number, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const node = cluster.nodes[id - 1];
  for (let waited = 0; waited < timeoutMs && !pattern.test(node.output); waited += 50) await sleep(50);
  expect(node.output).toMatch(pattern);
}

test('a restarted node knows it ran in the cluster before: it votes again only once a leader synced it, with no client writing', async () => {
  cluster = await makeCluster(3, 'shm', ['-m', '32']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  for (const id of [1, 2, 3]) expect(cluster.nodes[id - 1].output).toMatch(new RegExp(`first start of node ${id} in cluster \\S+: marked in ${cluster.dir}/state/member-`));
  const port = (id: number) => cluster.nodes[id - 1].clientPort;
  expect(await textSet(port(leader), 'kept', 'yes')).toBe('STORED\r\n');
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  await waitForValue(port(follower), 'kept', 'yes');

  await cluster.kill(follower);
  cluster.nodes[follower - 1].output = '';
  await cluster.start(follower);
  expect(cluster.nodes[follower - 1].output).toMatch(new RegExp(`node ${follower} ran in cluster \\S+ before \\(${cluster.dir}/state/member-\\S+, first started \\S+\\): it restarted empty`));
  await waitForOutput(cluster, follower, /mu: ran in this group before and restarted empty: not a voter until a leader syncs this node/);
  // Nobody writes: the leader's own no-op shows the node that its term is current.
  await waitForOutput(cluster, follower, /mu: synced by the leader up to index \d+: a voter again/);
  await waitForValue(port(follower), 'kept', 'yes');
});

test('a cluster whose every node was killed and restarted empty starts anew and takes writes', async () => {
  cluster = await makeCluster(3, 'shm', ['-m', '32']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  expect(await textSet(cluster.nodes[leader - 1].clientPort, 'lost', 'with-the-processes')).toBe('STORED\r\n');
  for (const id of [1, 2, 3]) await cluster.kill(id);
  for (const n of cluster.nodes) n.output = '';
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const next = await waitForLeader(cluster, 30_000);
  for (const id of [1, 2, 3]) await waitForOutput(cluster, id, /every other member holds nothing either \(the whole group restarted empty\): starting the group anew/);
  expect(await setUntilStored(cluster.nodes[next - 1].clientPort, 'after', 'yes')).toBe('STORED\r\n');
  for (const id of [1, 2, 3]) await waitForValue(cluster.nodes[id - 1].clientPort, 'after', 'yes', 10_000);
});

test('without a state directory the node says that a restart cannot be told from a first start', async () => {
  cluster = await makeCluster(1, 'shm', ['--state-dir', '']);
  await cluster.start(1);
  expect(cluster.nodes[0].output).toMatch(/no state directory \(--state-dir, or \$STATE_DIRECTORY as systemd sets it\): a restart of this node cannot be told from its first start/);
});

test('a state directory that cannot be written stops the start with exit code 73, naming it', async () => {
  cluster = await makeCluster(1, 'shm');
  const bad = path.join('/proc', `mucached-state-${process.pid}`);
  const child = spawn(process.execPath, [daemonCli, '--id', '1', '--config', cluster.configFile, '--state-dir', bad], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d.toString(); });
  child.stderr.on('data', (d) => { output += d.toString(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  expect(code).toBe(73);
  expect(output).toContain(`state directory ${bad}: cannot create it:`);
});
