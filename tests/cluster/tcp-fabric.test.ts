/**
 * The same replicated daemon over the tcp fabric (the software NIC, authenticated with the cluster
 * secret): writes replicate, and a SIGKILLed leader is replaced without losing acknowledged writes.
 * The leader's death herald (binding/src/herald.h) tells the followers it died.
 */
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';

jest.setTimeout(120_000);
// Whole clusters of real processes on a shared 2-core machine: a run starved of CPU long enough to
// miss an election is retried; the failure of the first attempt is still printed.
jest.retryTimes(2, { logErrorsBeforeRetry: true });

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await makeCluster(3, 'tcp', ['-I', '64k', '-m', '32']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
});

afterAll(async () => {
  await cluster?.stopAll();
});

const port = (id: number) => cluster.nodes[id - 1].clientPort;

async function statsMu(id: number): Promise<Map<string, string>> {
  const reply = await exchange(port(id), 'stats mu\r\n', (r) => r.endsWith('END\r\n'));
  return new Map(reply.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => {
    const [, name, value] = l.split(' ');
    return [name, value];
  }));
}

async function untilHeraldConnected(id: number, of: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if ((await statsMu(id)).get(`mu_peer_${of}_herald`) === 'connected') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`node ${id}: stats mu never showed mu_peer_${of}_herald connected`);
}

test('tcp fabric: writes on any node replicate; the leader is replaced after SIGKILL with every acknowledged write', async () => {
  for (const n of cluster.nodes) if (!n.proc || n.proc.exitCode !== null || n.proc.signalCode !== null) await cluster.start(n.id);
  const leader = await waitForLeader(cluster, 30_000);
  const followers = [1, 2, 3].filter((id) => id !== leader);
  const acked = new Map<string, string>();
  for (let i = 0; i < 40; i++) {
    const target = [leader, ...followers][i % 3];
    const reply = await exchange(port(target), `set tcp-${i} 0 0 ${String(i).length}\r\n${i}\r\n`, (r) => r.endsWith('\r\n'));
    expect(reply).toBe('STORED\r\n');
    acked.set(`tcp-${i}`, String(i));
  }
  for (const id of [1, 2, 3]) for (const [k, v] of acked) await waitForValue(port(id), k, v);

  for (const id of followers) await untilHeraldConnected(id, leader);
  await cluster.kill(leader, 'SIGKILL');
  const next = await waitForLeader(cluster, 30_000);
  // The followers heard of the death from the leader's herald, not from its sockets closing.
  for (const id of followers) {
    const heard = `node ${leader}'s herald says its process died`;
    for (let i = 0; i < 500 && !cluster.nodes[id - 1].output.includes(heard); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cluster.nodes[id - 1].output).toContain(heard);
  }
  expect(next).not.toBe(leader);
  expect(await exchange(port(next), 'set after-failover 0 0 2\r\nok\r\n', (r) => r.endsWith('\r\n'), 10_000)).toBe('STORED\r\n');
  for (const id of followers) {
    for (const [k, v] of acked) await waitForValue(port(id), k, v);
    await waitForValue(port(id), 'after-failover', 'ok');
  }
});
