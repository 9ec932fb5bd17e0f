/**
 * Real processes on shm. The leader and one follower are killed and come back empty: the survivor
 * alone remembers the group, nobody can be elected (the survivor may lack what only the lost
 * memories held), and writes are refused. The survivor's log line says how an operator gets out:
 * SIGUSR2 forces its election. It then leads with its log, syncs the restarted nodes, and the
 * cluster takes writes again with everything the survivor held.
 */
import { makeCluster, setUntilStored, TestCluster, textSet, waitForLeader, waitForValue } from '../helpers/cluster';

jest.setTimeout(120_000);

let cluster: TestCluster;
afterEach(async () => { await cluster?.stopAll(); });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('SIGUSR2 forces the survivor\'s election when the leader and a follower lost their memory; it keeps the cache', async () => {
  cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', '32', '--write-deadline-ms', '500']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  const [survivor, other] = [1, 2, 3].filter((id) => id !== leader);
  const port = (id: number) => cluster.nodes[id - 1].clientPort;
  for (let n = 0; n < 20; n++) expect(await textSet(port(leader), `k${n}`, `v${n}`)).toBe('STORED\r\n');
  for (let n = 0; n < 20; n++) await waitForValue(port(survivor), `k${n}`, `v${n}`);

  // The follower first: killed together, the survivor could be elected with it in between, and its
  // term would then sync both restarted nodes (the case minority-leader.test.ts covers).
  await cluster.kill(other);
  await cluster.kill(leader);
  await Promise.all([leader, other].map((id) => cluster.start(id)));
  const survivorProc = cluster.nodes[survivor - 1];
  for (let i = 0; i < 300 && !/cannot be elected/.test(survivorProc.output); i++) await sleep(50);
  expect(survivorProc.output).toMatch(new RegExp(`cannot be elected: 1 of 3 members alive may vote.*kill -USR2 ${survivorProc.proc!.pid} forces this node's election`));
  expect(await textSet(port(survivor), 'refused', 'x')).toMatch(/^SERVER_ERROR .*no leader/);

  // A restarted node has nothing to lead with: it refuses, and says so.
  cluster.nodes[other - 1].proc!.kill('SIGUSR2');
  for (let i = 0; i < 100 && !/SIGUSR2: not forced/.test(cluster.nodes[other - 1].output); i++) await sleep(20);
  expect(cluster.nodes[other - 1].output).toMatch(/SIGUSR2: not forced: this node restarted empty itself/);

  survivorProc.proc!.kill('SIGUSR2');
  await waitForLeader(cluster, 20_000);
  expect(survivorProc.output).toMatch(/forced election: counting nodes? .*\(restarted empty\) as voters/);
  expect(survivorProc.output).toMatch(/forced election won/);
  expect(await setUntilStored(port(survivor), 'after', 'yes')).toBe('STORED\r\n');
  // Every node holds what the survivor held, and the new write.
  for (const id of [1, 2, 3]) {
    await waitForValue(port(id), 'after', 'yes', 10_000);
    for (let n = 0; n < 20; n++) await waitForValue(port(id), `k${n}`, `v${n}`, 10_000);
  }
});
