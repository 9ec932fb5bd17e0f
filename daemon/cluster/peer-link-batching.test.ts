/**
 * The answers of one log entry leave together and at once. A leader commits an entry in the check
 * phase (the group's setImmediate), and every forwarded write in it is answered in the microtasks
 * that follow: those answers must go out in one write before the loop turns again, not wait for a
 * further turn (which a setImmediate flush queued from the check phase did). Real sockets on
 * loopback; the handler settles its answers the way the leader's group commit does.
 */
import * as net from 'net';
import { waitUntil } from '../../loadgen/wait';
import { PeerDialer, PeerListener } from './peer-link';

const SECRET = 'batching-secret';
const CLUSTER = 'batching-test';
const REQUESTS = 8;

test('answers settled together in the check phase are written in one write before the next turn', async () => {
  const waiting: Array<(answer: Record<string, unknown>) => void> = [];
  const seen: { unflushedBytesNextTurn: number; writeCalls: number } = { unflushedBytesNextTurn: -1, writeCalls: 0 };
  let listenerSocket: net.Socket | undefined;
  const listener = new PeerListener(SECRET, new Set([1, 2]), (_from, request) => new Promise((resolve) => {
    waiting.push(resolve);
    if (waiting.length < REQUESTS) return;
    // As sealGroup: one commit in a setImmediate settles every write of the entry.
    setImmediate(() => {
      listenerSocket = [...(listener as unknown as { sockets: Set<net.Socket> }).sockets][0];
      const socket = listenerSocket as unknown as { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void };
      for (const method of ['_writev', '_write'] as const) {
        const original = socket[method].bind(socket);
        socket[method] = (...a: unknown[]) => { seen.writeCalls++; original(...a); };
      }
      waiting.forEach((answer, k) => answer({ n: k, op: request.op }));
      setImmediate(() => { seen.unflushedBytesNextTurn = listenerSocket!.writableLength; });
    });
  }), { info: () => undefined }, { selfId: 1, cluster: CLUSTER });
  const port = await listener.listen('127.0.0.1', 0);
  const dialer = new PeerDialer(2, SECRET, '127.0.0.1', port, 1000, { peerId: 1, cluster: CLUSTER });
  try {
    const answers = await Promise.all(Array.from({ length: REQUESTS }, (_, k) => dialer.request({ op: `w${k}` })));
    expect(answers.map((a) => a.ok)).toEqual(Array(REQUESTS).fill(true));
    // The answers can arrive (same process) before the turn that looks at the socket has run.
    await waitUntil(() => seen.unflushedBytesNextTurn >= 0, 2000, 'the next turn after the commit');
    expect(seen.unflushedBytesNextTurn).toBe(0);
    expect(seen.writeCalls).toBe(1);
  } finally {
    dialer.close();
    listener.close();
  }
});
