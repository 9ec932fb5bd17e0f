/**
 * Real processes on the shm fabric, every node run with --write-deadline-ms 500: a write sent to a
 * follower while the leader is frozen (SIGSTOP) is answered while the leader is still frozen (the
 * forward to it does not hang until it wakes), and when the old leader wakes and finds the forwarded
 * write in its socket, long past its deadline, it does not carry it out.
 */
import { exchange, frozenLeaderSuite, waitForLeader, waitForValue } from '../helpers/cluster';

const DEADLINE_MS = 500;
/** How long the leader stays frozen at most: far past the deadline and the forward's grace. */
const FROZEN_MAX_MS = 10_000;

const { cluster, port, freezeLeader } = frozenLeaderSuite(['--write-deadline-ms', String(DEADLINE_MS)]);

test('a write forwarded to a frozen leader is answered before it wakes, and is not carried out when it does', async () => {
  const { follower, key, thaw } = await freezeLeader();
  let frozen = true;
  let reply: string;
  try {
    const sentAt = Date.now();
    reply = await exchange(port(follower), `set ${key} 0 0 5\r\nlater\r\n`, (r) => r.endsWith('\r\n'), FROZEN_MAX_MS);
    expect({ answeredWhileLeaderFrozen: frozen }).toEqual({ answeredWhileLeaderFrozen: true });
    // The follower gives up on the frozen leader once it knows the next one, which may be before
    // the deadline: keep the old leader frozen past it, so that it wakes to a write too old to do.
    await new Promise((r) => setTimeout(r, Math.max(0, sentAt + DEADLINE_MS + 200 - Date.now())));
  } finally {
    thaw();
    frozen = false;
  }
  // The follower may have seen the leader die before forwarding: then the new leader stored it.
  if (reply === 'STORED\r\n') {
    for (const id of [1, 2, 3]) await waitForValue(port(id), key, 'later');
    return;
  }
  expect(reply).toMatch(/^SERVER_ERROR .*outcome unknown/);
  // The old leader now reads the forwarded write from its socket, past its deadline.
  await waitForLeader(cluster());
  const marker = `after-${key}`;
  expect(await exchange(port(follower), `set ${marker} 0 0 1\r\nx\r\n`, (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
  for (const id of [1, 2, 3]) {
    await waitForValue(port(id), marker, 'x');
    await waitForValue(port(id), key, null);
  }
});
