/**
 * Real processes on the shm fabric, run with --write-deadline-ms 500. When no majority is left, a
 * binary-protocol write (what memjs and most binary clients send) is answered with an error status
 * and the reason as its message, as a text client gets SERVER_ERROR with it, and the connection
 * stays open for the next request. It used to be dropped, with an "internal error" in the log.
 */
import { Op } from '../helpers/binpkt';
import { makeCluster, TestCluster, waitForLeader } from '../helpers/cluster';
import { SentinelSession } from '../helpers/sentinel-session';

jest.setTimeout(120_000);

const TEMPORARY_FAILURE = 0x86;
const INTERNAL_ERROR = 0x84;
const NOT_FOUND = 0x01;

let cluster: TestCluster;
afterEach(async () => { await cluster?.stopAll(); });

test('a binary write that cannot be replicated gets an error reply and the connection stays usable', async () => {
  cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', '32', '--write-deadline-ms', '500']);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  const survivor = [1, 2, 3].find((id) => id !== leader)!;
  // The other follower first, then the leader: killed the other way round, the survivor could be
  // elected by the follower in between and be left a leader without a majority, a case of its own
  // (minority-leader.test.ts), not the follower with no leader this test is about.
  const otherFollower = [1, 2, 3].find((id) => id !== leader && id !== survivor)!;
  await cluster.kill(otherFollower);
  await cluster.kill(leader);
  const session = await SentinelSession.open(cluster.nodes[survivor - 1].clientPort, 20_000);
  try {
    const [set, setq, get] = await session.binary(
      { opcode: Op.set, key: Buffer.from('k'), extras: Buffer.alloc(8), value: Buffer.from('v'), opaque: 1 },
      { opcode: Op.setq, key: Buffer.from('q'), extras: Buffer.alloc(8), value: Buffer.from('v'), opaque: 2 },
      { opcode: Op.get, key: Buffer.from('k'), opaque: 3 },
    );
    for (const [reply, opaque] of [[set, 1], [setq, 2]] as const) {
      expect(reply.opaque).toBe(opaque);
      expect([TEMPORARY_FAILURE, INTERNAL_ERROR]).toContain(reply.status);
      expect(reply.value.toString()).toMatch(/no leader|write not applied|deadline|outcome unknown/);
    }
    // The same connection goes on: the read is served from this node's copy.
    expect(get).toMatchObject({ opaque: 3, status: NOT_FOUND });
  } finally {
    session.close();
  }
  expect(cluster.nodes[survivor - 1].output).not.toMatch(/internal error/);
});
