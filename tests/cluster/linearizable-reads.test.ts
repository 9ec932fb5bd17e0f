/**
 * Real processes on the shm fabric, every node run with --reads linearizable: a read sees every
 * write acknowledged before it was sent, whichever node it is sent to.
 * - A get (or a plain mg) on a follower right after a set acknowledged by the leader returns that
 *   set's value, over text and binary (with local reads a follower answers from a copy that lags by a pump interval:
 *   most such reads return the previous value).
 * - An old leader frozen (SIGSTOP) while the others elect and take a write, with a get waiting in
 *   its socket, answers that get with the new value (or an error) when it wakes, never from its
 *   stale copy.
 * - With no majority left, a get is refused with a SERVER_ERROR that says nothing was read.
 */
import * as net from 'net';
import { Op } from '../helpers/binpkt';
import { exchange, frozenLeaderSuite, muRole, waitForLeader } from '../helpers/cluster';
import { SentinelSession } from '../helpers/sentinel-session';

const DEADLINE_MS = 2000;
const ROUNDS = 150;

const { cluster, port, freezeLeader } = frozenLeaderSuite(['--reads', 'linearizable', '--write-deadline-ms', String(DEADLINE_MS)]);

/** One connection that sends a request and resolves with the reply once `done` says it is whole. */
class Conn {
  private received = '';
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d) => { this.received += d.toString('latin1'); });
    socket.on('error', () => undefined);
  }

  static open(p: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(p, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  async request(text: string, done: (reply: string) => boolean, timeoutMs = 10_000): Promise<string> {
    this.received = '';
    this.socket.write(text);
    return this.reply(done, timeoutMs);
  }

  async reply(done: (reply: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.received)) {
      if (Date.now() > deadline) throw new Error(`no complete reply within ${timeoutMs} ms (got ${JSON.stringify(this.received)})`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const out = this.received;
    this.received = '';
    return out;
  }

  close(): void {
    this.socket.destroy();
  }
}

const lineDone = (r: string): boolean => r.endsWith('\r\n');
const getDone = (r: string): boolean => r.endsWith('END\r\n') || r.startsWith('SERVER_ERROR') && r.endsWith('\r\n');

test('a read on a follower sees the write the leader acknowledged just before, over text and binary', async () => {
  const leader = await waitForLeader(cluster());
  const followers = [1, 2, 3].filter((id) => id !== leader);
  const writer = await Conn.open(port(leader));
  const readers = await Promise.all(followers.map((id) => Conn.open(port(id))));
  const binary = await SentinelSession.open(port(followers[0]));
  try {
    const stale: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const value = `v${i}`;
      expect(await writer.request(`set lin 0 0 ${value.length}\r\n${value}\r\n`, lineDone)).toBe('STORED\r\n');
      for (const [n, reader] of readers.entries()) {
        const got = await reader.request('get lin\r\n', getDone);
        if (got !== `VALUE lin 0 ${value.length}\r\n${value}\r\nEND\r\n`) stale.push(`round ${i}, node ${followers[n]}: ${JSON.stringify(got)}`);
      }
      if (i % 10 === 0) {
        const [hit] = await binary.binary({ opcode: Op.get, key: Buffer.from('lin'), opaque: i });
        if (hit.value.toString() !== value) stale.push(`round ${i}, binary get: ${JSON.stringify(hit.value.toString())}`);
      }
      if (i % 10 === 5) {
        // A plain mg reads the node's copy too, so it passes the same barrier.
        const got = await readers[1].request('mg lin v\r\n', (r) => r.startsWith('EN') || r.endsWith(`${value}\r\n`) || /^VA \d+\r\n.*\r\n$/s.test(r));
        if (got !== `VA ${value.length}\r\n${value}\r\n`) stale.push(`round ${i}, mg on node ${followers[1]}: ${JSON.stringify(got)}`);
      }
    }
    expect(stale).toEqual([]);
  } finally {
    writer.close();
    for (const r of readers) r.close();
    binary.close();
  }
  const mu = await exchange(port(followers[0]), 'stats mu\r\n', (r) => r.endsWith('END\r\n'));
  const reads = Number(/STAT mu_linearizable_reads (\d+)/.exec(mu)![1]);
  const fences = Number(/STAT mu_read_fences (\d+)/.exec(mu)![1]);
  expect(reads).toBeGreaterThanOrEqual(ROUNDS);
  expect(fences).toBeGreaterThan(0);
  expect(fences).toBeLessThanOrEqual(reads);
});

test('an old leader that wakes with a read waiting answers it with what the new leader acknowledged, not from its stale copy', async () => {
  const { leader, follower, key, thaw } = await freezeLeader();
  const warmKey = `warm-${key}`; // freezeLeader stored "w" under it, acknowledged by the old leader
  let reply: string;
  try {
    let stored = '';
    for (let attempt = 0; attempt < 20 && stored !== 'STORED\r\n'; attempt++) {
      stored = await exchange(port(follower), `set ${warmKey} 0 0 5\r\nfresh\r\n`, lineDone, 3 * DEADLINE_MS);
    }
    expect(stored).toBe('STORED\r\n');
    // Sent after "fresh" was acknowledged, while the old leader still sleeps: it waits in its socket.
    const reader = await Conn.open(port(leader));
    try {
      await new Promise((r) => setTimeout(r, 50));
      const pending = reader.request(`get ${warmKey}\r\n`, getDone, 3 * DEADLINE_MS);
      await new Promise((r) => setTimeout(r, 50));
      thaw();
      reply = await pending;
    } finally {
      reader.close();
    }
  } finally {
    thaw();
  }
  if (!reply.startsWith('SERVER_ERROR')) expect(reply).toBe(`VALUE ${warmKey} 0 5\r\nfresh\r\nEND\r\n`);
  expect((await muRole(port(leader))).role).not.toBe('');
});

test('with no majority left, a read is refused: nothing read', async () => {
  const leader = await waitForLeader(cluster());
  const survivor = [1, 2, 3].find((id) => id !== leader)!;
  for (const id of [1, 2, 3]) if (id !== survivor) await cluster().kill(id);
  const reply = await exchange(port(survivor), 'get lin\r\n', (r) => r.endsWith('\r\n'), 5 * DEADLINE_MS);
  expect(reply).toMatch(/^SERVER_ERROR no leader confirmed this read within 2000 ms \(.*\); nothing read\r\n$/);
});
