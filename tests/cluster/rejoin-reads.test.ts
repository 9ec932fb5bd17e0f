/**
 * Real processes on shm. A follower restarted empty takes connections at once, but holds none of
 * the cache until the leader has synced it (log catch-up or snapshot). Reads it answers in that
 * window must not pass for the cache's answer: a get of a key the cluster holds is the value (the
 * read waited for the catch-up) or an error, never a miss.
 */
import * as net from 'net';
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';

jest.setTimeout(120_000);

let cluster: TestCluster;
afterEach(async () => { await cluster?.stopAll(); });

const KEYS = 20_000;
const value = (n: number): string => `v${n}-${'x'.repeat(40)}`;

/** Sets every key with noreply in one pipelined stream, then a `get` to know they were all read. */
async function load(port: number): Promise<void> {
  const parts: string[] = [];
  for (let n = 0; n < KEYS; n++) parts.push(`set k${n} 0 0 ${value(n).length} noreply\r\n${value(n)}\r\n`);
  parts.push(`get k${KEYS - 1}\r\n`);
  const reply = await exchange(port, parts.join(''), (r) => r.endsWith('END\r\n'), 60_000);
  expect(reply).toBe(`VALUE k${KEYS - 1} 0 ${value(KEYS - 1).length}\r\n${value(KEYS - 1)}\r\nEND\r\n`);
}

/** Connects as soon as the port takes connections (bounded), and reads keys in a loop on that connection. */
async function readAsSoonAsUp(port: number, reads: number): Promise<string[]> {
  let socket: net.Socket | null = null;
  for (let attempt = 0; attempt < 3000 && socket === null; attempt++) {
    socket = await new Promise<net.Socket | null>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', () => { s.destroy(); resolve(null); });
    });
    if (socket === null) await new Promise((r) => setTimeout(r, 2));
  }
  if (socket === null) throw new Error(`:${port} never took a connection`);
  const s = socket;
  const replies: string[] = [];
  try {
    let buffered = '';
    let wake: (() => void) | null = null;
    s.on('data', (d) => { buffered += d.toString('latin1'); wake?.(); });
    for (let i = 0; i < reads; i++) {
      const n = (i * 7919) % KEYS;
      s.write(`get k${n}\r\n`);
      const deadline = Date.now() + 15_000;
      while (!/(END|ERROR[^\r]*)\r\n$/.test(buffered) && Date.now() < deadline) {
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
        wake = null;
      }
      replies.push(`k${n} ${buffered}`);
      buffered = '';
    }
  } finally {
    s.destroy();
  }
  return replies;
}

test('a follower restarted empty never answers a get of a key the cluster holds with a miss', async () => {
  cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', '64']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const followerPort = cluster.nodes[follower - 1].clientPort;
  await load(cluster.nodes[leader - 1].clientPort);
  await waitForValue(followerPort, `k${KEYS - 1}`, value(KEYS - 1));

  await cluster.kill(follower);
  const started = cluster.start(follower);
  const replies = await readAsSoonAsUp(followerPort, 300);
  await started;
  const misses = replies.filter((r) => r.endsWith(' END\r\n'));
  const wrong = replies.filter((r) => {
    const n = Number(/^k(\d+) /.exec(r)![1]);
    return !r.endsWith(`VALUE k${n} 0 ${value(n).length}\r\n${value(n)}\r\nEND\r\n`) && !/SERVER_ERROR [^\r]+\r\n$/.test(r);
  });
  expect({ misses: misses.slice(0, 3), wrong: wrong.slice(0, 3) }).toEqual({ misses: [], wrong: [] });
  // It did catch up: the reads end with values.
  expect(replies[replies.length - 1]).toMatch(/VALUE/);
});
