/**
 * A real 3-node cluster (shm fabric) whose peer ports (daemon/cluster/peer-link.ts: forwarded
 * writes, snapshots) receive garbage from unauthenticated sockets: frames that are not JSON
 * objects, proofs that are not hex, a replayed hello, random bytes. No node may crash, and a write
 * sent to a follower (forwarded to the leader over the peer link) still commits everywhere.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as fs from 'fs';
import * as net from 'net';
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';
import { Rng } from '../helpers/rng';
import { FUZZ_SEED } from './fuzz-config';

jest.setTimeout(120_000);
// Whole clusters on a shared 2-core machine: a run starved of CPU long enough to miss an election
// is retried; the first failure is still printed.
jest.retryTimes(2, { logErrorsBeforeRetry: true });

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await makeCluster(3, 'shm');
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
});

afterAll(async () => {
  await cluster?.stopAll();
});

function rawFrame(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = Buffer.alloc(4);
  head.writeUInt32BE(b.length >>> 0);
  return Buffer.concat([head, b]);
}

/** Connects, waits for the challenge frame, sends `bytes`, and waits (bounded) for the close. */
function throwAt(port: number, bytes: (challengeFrame: Buffer) => Buffer, timeoutMs = 1000): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let sent = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (!sent && received.length >= 4 && received.length >= 4 + received.readUInt32BE(0)) {
        sent = true;
        socket.write(bytes(received.subarray(0, 4 + received.readUInt32BE(0))));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(timer); resolve(received); });
  });
}

test('garbage on every peer port crashes no node; forwarding still works', async () => {
  const config = JSON.parse(fs.readFileSync(cluster.configFile, 'utf8')) as { nodes: Array<{ id: number; peerPort: number }> };
  const rng = new Rng(FUZZ_SEED);
  const garbage: Array<(challenge: Buffer) => Buffer> = [
    () => rawFrame('null'),
    () => rawFrame('[1,2]'),
    () => rawFrame('"hello"'),
    () => rawFrame(`{"t":"hello","nodeId":1,"answer":"${'z'.repeat(64)}"}`),
    () => rawFrame(`{"t":"hello","nodeId":2,"answer":"${'0'.repeat(63)}x"}`),
    () => rawFrame('{"t":"hello","nodeId":{"$n":"1"},"answer":{"$b":"AA=="}}'),
    () => rawFrame('{not json'),
    () => Buffer.from([0xff, 0xff, 0xff, 0xff]),
    (challenge) => Buffer.concat([challenge, challenge]), // its own challenge echoed back
    ...Array.from({ length: 12 }, () => () => (rng.chance(0.5) ? rawFrame(rng.bytes(rng.range(0, 100))) : rng.bytes(rng.range(1, 200)))),
  ];
  try {
    for (const node of config.nodes) {
      await Promise.all(garbage.map((make) => throwAt(node.peerPort, make)));
    }
  } catch (e) {
    throw new Error(`seed ${FUZZ_SEED}: ${(e as Error).message}`);
  }
  for (const n of cluster.nodes) {
    if (n.proc?.exitCode !== null || n.proc?.signalCode !== null) {
      throw new Error(`node ${n.id} died under peer-port garbage (seed ${FUZZ_SEED}):\n${n.output.slice(-3000)}`);
    }
  }
  const leader = await waitForLeader(cluster);
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const port = (id: number) => cluster.nodes[id - 1].clientPort;
  expect(await exchange(port(follower), 'set after-garbage 0 0 2\r\nok\r\n', (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
  for (const id of [1, 2, 3]) await waitForValue(port(id), 'after-garbage', 'ok');
});
