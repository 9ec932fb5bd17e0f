/**
 * Binary frames between daemons are negotiated (peer-wire.ts, BINARY_FRAMES_FIELD): a build that
 * never said it reads them, as before binary frames existed, gets JSON both ways, so a cluster can
 * be upgraded one node at a time. Real sockets; the old side is played by hand.
 */
import * as net from 'net';
import { PeerDialer, PeerListener } from '../../daemon/cluster/peer-link';
import { encodeFrame, FrameReader, handshakeProof, newNonce, PEER_HANDSHAKE_VERSION } from '../../daemon/cluster/peer-wire';

const SECRET = 'upgrade-secret';
const CLUSTER = 'upgrade-test';
const STORE_OP = { op: 'store', mode: 'set', key: Buffer.from('k'), value: Buffer.from('value'), flags: 0, exptime: 0 };

/** Raw frame bodies off a socket, in order. */
function bodies(socket: net.Socket): { got: Buffer[]; next: (timeoutMs?: number) => Promise<Buffer> } {
  const got: Buffer[] = [];
  let pending = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      const n = pending.readUInt32BE(0);
      got.push(pending.subarray(4, 4 + n));
      pending = pending.subarray(4 + n);
    }
    wake?.();
  });
  let taken = 0;
  const next = async (timeoutMs = 3000): Promise<Buffer> => {
    const deadline = Date.now() + timeoutMs;
    while (got.length <= taken && Date.now() < deadline) {
      await new Promise<void>((r) => { wake = r; setTimeout(r, 20); });
    }
    if (got.length <= taken) throw new Error('no frame');
    return got[taken++];
  };
  return { got, next };
}

const json = (body: Buffer) => JSON.parse(body.toString('utf8')) as Record<string, unknown>;

describe('binary peer frames are used only between builds that both read them', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  async function listener(): Promise<number> {
    const l = new PeerListener(SECRET, new Set([1, 2]), async () => ({ result: { status: 'STORED', cas: 9n }, index: 4 }), { info: () => undefined }, { selfId: 1, cluster: CLUSTER });
    cleanups.push(() => l.close());
    return l.listen('127.0.0.1', 0);
  }

  test.each([
    ['an older dialer (no bin in its hello) gets JSON replies', false],
    ['a dialer that reads binary frames gets binary replies', true],
  ])('%s', async (_name, dialerBinary) => {
    const port = await listener();
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    const wire = bodies(socket);
    const challenge = json(await wire.next());
    expect(challenge.bin).toBe(1);
    const nonce = newNonce();
    const answer = handshakeProof(SECRET, 'client', { cluster: CLUSTER, serverId: 1, clientId: 2, challenge: String(challenge.c), nonce });
    socket.write(encodeFrame({ t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: 2, nonce, answer, ...(dialerBinary ? { bin: 1 } : {}) }));
    expect(json(await wire.next()).t).toBe('welcome');
    // An older build sends JSON whatever it is told; the reply is what it can read.
    socket.write(encodeFrame({ t: 'op', id: 1, op: STORE_OP, deadlineAtMs: Date.now() + 1000, budgetMs: 1000 }));
    const reply = await wire.next();
    expect(reply[0] === 0x7b).toBe(!dialerBinary);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(reply.length);
    const [decoded] = new FrameReader().push(Buffer.concat([head, reply])) as Array<Record<string, unknown>>;
    expect(decoded).toMatchObject({ t: 'reply', id: 1, ok: true, result: { status: 'STORED', cas: 9n }, index: 4 });
  });

  /** A listener played by hand: its challenge carries `fields`; gives the dialer's hello and first request. */
  async function handPlayedListener(fields: Record<string, unknown>): Promise<{ port: number; hello: Promise<Record<string, unknown>>; request: Promise<Buffer> }> {
    const server = net.createServer();
    let helloOf: (h: Record<string, unknown>) => void = () => undefined;
    const hello = new Promise<Record<string, unknown>>((r) => { helloOf = r; });
    const request = new Promise<Buffer>((resolve, reject) => {
      server.on('connection', (socket) => {
        cleanups.push(() => socket.destroy());
        const wire = bodies(socket);
        const c = newNonce();
        socket.write(encodeFrame({ t: 'challenge', v: PEER_HANDSHAKE_VERSION, c, nodeId: 1, ...fields }));
        void (async () => {
          const h = json(await wire.next());
          helloOf(h);
          const facts = { cluster: CLUSTER, serverId: 1, clientId: 2, challenge: c, nonce: String(h.nonce) };
          socket.write(encodeFrame({ t: 'welcome', proof: handshakeProof(SECRET, 'server', facts) }));
          resolve(await wire.next());
        })().catch(reject);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => server.close());
    return { port: (server.address() as net.AddressInfo).port, hello, request };
  }

  function dialerTo(port: number): PeerDialer {
    const dialer = new PeerDialer(2, SECRET, '127.0.0.1', port, 1000, { peerId: 1, cluster: CLUSTER });
    cleanups.push(() => dialer.close());
    return dialer;
  }

  test.each([
    ['an older listener (no bin in its challenge) gets JSON requests', false],
    ['a listener that reads binary frames gets binary requests', true],
  ])('%s', async (_name, listenerBinary) => {
    const listener = await handPlayedListener(listenerBinary ? { bin: 1 } : {});
    void dialerTo(listener.port).request({ t: 'op', op: STORE_OP, deadlineAtMs: Date.now() + 1000, budgetMs: 1000 }, 500).catch(() => undefined);
    expect((await listener.hello).bin).toBe(1);
    const body = await listener.request;
    expect(body[0] === 0x7b).toBe(!listenerBinary);
  });

  test.each([
    ['an older listener (no rec in its challenge) gets no tag: it would refuse the frame, and records nothing', false],
    ['a listener that records outcomes gets the tag', true],
  ])('%s', async (_name, listenerRecords) => {
    const listener = await handPlayedListener({ bin: 1, ...(listenerRecords ? { rec: 1 } : {}) });
    const tag = { origin: 2, session: 5, seq: 77 };
    const message: Record<string, unknown> = { t: 'op', op: STORE_OP, deadlineAtMs: Date.now() + 1000, budgetMs: 1000, tag };
    void dialerTo(listener.port).request(message, 500).catch(() => undefined);
    const body = await listener.request;
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const [decoded] = new FrameReader().push(Buffer.concat([head, body])) as Array<Record<string, unknown>>;
    expect(decoded.tag).toEqual(listenerRecords ? tag : undefined);
    // The sender learns from its message whether the tag went (replica.ts: no resend without it).
    expect(message.tag).toEqual(listenerRecords ? tag : undefined);
  });
});
