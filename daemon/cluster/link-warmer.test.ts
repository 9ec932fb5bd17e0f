/**
 * LinkWarmer over real peer links on loopback: a link to a member that is up opens ahead of the
 * first request; a member that keeps refusing is tried again at a doubling pace. The clock that
 * paces the tries is the test's (checks are called by hand); the sockets are real.
 */
import * as net from 'net';
import { CHECK_EVERY_MS, LinkWarmer, MAX_BACKOFF_MS } from './link-warmer';
import { waitUntil } from '../../loadgen/wait';
import { PeerDialer, PeerListener } from './peer-link';

const SECRET = 'link-warmer-secret';
const CLUSTER = 'link-warmer-test';

test('a link to a member that is up opens before any request; one that is down is not dialled', async () => {
  let requests = 0;
  const listener = new PeerListener(SECRET, new Set([1, 2, 3]), async () => { requests++; return { ok: true }; }, { info: () => undefined }, { selfId: 2, cluster: CLUSTER });
  const port = await listener.listen('127.0.0.1', 0);
  const toTwo = new PeerDialer(1, SECRET, '127.0.0.1', port, 1000, { peerId: 2, cluster: CLUSTER });
  // Node 3 is down: nothing listens where it would.
  const toThree = new PeerDialer(1, SECRET, '127.0.0.1', 1, 1000, { peerId: 3, cluster: CLUSTER });
  const warmer = new LinkWarmer(new Map([[2, toTwo], [3, toThree]]), (id) => id === 2, () => 0);
  try {
    expect(toTwo.linked).toBe(false);
    warmer.check();
    await waitUntil(() => toTwo.linked, 5000, 'the link to node 2', 2);
    expect({ two: toTwo.linked, three: toThree.linked, requests }).toEqual({ two: true, three: false, requests: 0 });
  } finally {
    warmer.stop();
    toTwo.close();
    toThree.close();
    listener.close();
  }
});

test('a member that refuses every handshake is dialled again at a doubling pace, capped', async () => {
  // A peer port that accepts and hangs up at once (as one with another secret would): real
  // connections, counted.
  let accepted = 0;
  const server = net.createServer((s) => { accepted++; s.destroy(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const dialer = new PeerDialer(1, SECRET, '127.0.0.1', port, 1000, { peerId: 2, cluster: CLUSTER });
  const clock = { ms: 0 };
  const warmer = new LinkWarmer(new Map([[2, dialer]]), () => true, () => clock.ms);
  const triesAt: number[] = [];
  const warm = jest.spyOn(dialer, 'warm');
  try {
    for (let t = 0; t <= 100_000; t += CHECK_EVERY_MS) {
      clock.ms = t;
      const before = warm.mock.calls.length;
      warmer.check();
      if (warm.mock.calls.length === before) continue;
      triesAt.push(t);
      // Each try is a real connection, refused: wait until the dialer gave it up.
      await warm.mock.results[warm.mock.results.length - 1].value;
    }
    const gaps = triesAt.slice(1).map((t, i) => t - triesAt[i]);
    expect(gaps.slice(0, 5)).toEqual([1, 2, 4, 8, 16].map((k) => k * CHECK_EVERY_MS));
    expect(Math.max(...gaps)).toBe(MAX_BACKOFF_MS);
    expect({ linked: dialer.linked, accepted }).toEqual({ linked: false, accepted: triesAt.length });
  } finally {
    warm.mockRestore();
    warmer.stop();
    dialer.close();
    server.close();
  }
});
