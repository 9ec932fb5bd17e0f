/**
 * Real processes on the shm fabric with a long write deadline (20 s): a write sent to a follower
 * while the leader is frozen (SIGSTOP) is not held until that deadline. Once the follower knows the
 * next leader it sends the write again, with the tag that lets a leader tell a retry from a new
 * write (daemon/cache/outcomes.ts), and the new leader stores it: the client gets STORED, not
 * "outcome unknown". Later writes through the same follower go to the new leader; after the old
 * leader wakes (and finds the stale forward in its socket), every node holds the write once.
 */
import { exchange, frozenLeaderSuite, waitForLeader, waitForValue } from '../helpers/cluster';
import { parseValueReply } from '../../loadgen/chaos/text-client';

const DEADLINE_MS = 20_000;
/** Far below the deadline: an answer within it can only come from giving up on the old leader. */
const ANSWER_WITHIN_MS = 8_000;

const { cluster, port, freezeLeader } = frozenLeaderSuite(['--write-deadline-ms', String(DEADLINE_MS)]);

async function valueOn(id: number, key: string): Promise<string | null> {
  return parseValueReply(await exchange(port(id), `get ${key}\r\n`, (r) => r.endsWith('END\r\n')))?.value ?? null;
}

test('a write forwarded to a frozen leader is stored by the next leader once it is known, long before its deadline', async () => {
  const { leader, follower, key, thaw } = await freezeLeader();
  try {
    const reply = await exchange(port(follower), `set ${key} 0 0 5\r\nlater\r\n`, (r) => r.endsWith('\r\n'), ANSWER_WITHIN_MS);
    expect({ reply, leader }).toEqual({ reply: 'STORED\r\n', leader });
    // Still frozen: the next write through the same follower reaches the new leader.
    expect(await exchange(port(follower), `set next-${key} 0 0 1\r\nn\r\n`, (r) => r.endsWith('\r\n'), ANSWER_WITHIN_MS)).toBe('STORED\r\n');
  } finally {
    thaw();
  }
  await waitForLeader(cluster());
  const marker = `after-${key}`;
  expect(await exchange(port(follower), `set ${marker} 0 0 1\r\nx\r\n`, (r) => r.endsWith('\r\n'), ANSWER_WITHIN_MS)).toBe('STORED\r\n');
  for (const id of [1, 2, 3]) await waitForValue(port(id), marker, 'x');
  // Stored once, the same on every node.
  const seen = await Promise.all([1, 2, 3].map((id) => valueOn(id, key)));
  expect(seen).toEqual(['later', 'later', 'later']);
});
