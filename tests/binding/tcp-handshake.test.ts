/**
 * The tcp fabric's challenge-response (binding/src/tcp_inbound.cc, tcp_outbound.cc) against an
 * attacker on the wire: a recorded AUTH replayed on a new connection, a wrong secret, a MAC made
 * for another role or another claimed id, and a recorded AUTH_OK replayed to a dialling node by a
 * man in the middle. Each must be refused: the connection closes, no AUTH_OK, no WRITE applied.
 *
 * The AUTH MACs are computed with the addon's own hmacSha256 over authMac's message layout
 * (tcp_frames.cc): "mucached-fabric/1 <role> <cluster> <serverId> <clientId> " || serverNonce ||
 * clientNonce, and cross-checked against node:crypto (tests/binding/wire.ts).
 */
import * as crypto from 'crypto';
import * as net from 'net';
import { loadAddon, NativeFabric, openFabric } from '../../binding';
import { uniqueCluster } from './child';
import { FRAME, RawConn, authMac, frame, writeFrame } from './wire';

const SECRET = 'handshake-test-secret';
const OWNER = 1;

function addonMac(secret: string, role: 'client' | 'server', cluster: string, serverId: number, clientId: number, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  const head = Buffer.from(`mucached-fabric/1 ${role} ${cluster} ${serverId} ${clientId} `, 'latin1');
  return loadAddon().hmacSha256(Buffer.from(secret), Buffer.concat([head, serverNonce, clientNonce]));
}

function authFrame(clientId: number, clientNonce: Buffer, mac: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = FRAME.auth;
  head.writeUInt32LE(clientId >>> 0, 1);
  return frame(Buffer.concat([head, clientNonce, mac]));
}

const nonceOf = (hello: Buffer): Buffer => hello.subarray(hello.length - 32);

/** Waits until `cond` holds, polling; bounded by `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

describe('tcp fabric handshake: replay and forgery', () => {
  let cluster: string;
  let owner: NativeFabric;
  let region: Buffer;
  const conns: RawConn[] = [];
  const closers: Array<() => void> = [];

  beforeEach(() => {
    cluster = uniqueCluster('tcphs');
    owner = openFabric({ kind: 'tcp', selfId: OWNER, cluster, secret: SECRET, listenPort: 0 });
    region = owner.registerRegion('log', 4096);
    owner.grantWrite('log', 2);
  });

  afterEach(() => {
    conns.splice(0).forEach((c) => c.destroy());
    closers.splice(0).forEach((close) => close());
    owner.close();
  });

  async function raw(): Promise<RawConn> {
    const c = await RawConn.connect(owner.listenPort);
    conns.push(c);
    return c;
  }

  /** A legitimate handshake as node `clientId`; returns the AUTH frame it sent. */
  async function legitimate(c: RawConn, clientId = 2): Promise<Buffer> {
    const hello = (await c.nextFrame())!;
    expect(hello[0]).toBe(FRAME.hello);
    const clientNonce = crypto.randomBytes(32);
    const mac = addonMac(SECRET, 'client', cluster, OWNER, clientId, nonceOf(hello), clientNonce);
    expect(mac.equals(authMac(SECRET, 'client', cluster, OWNER, clientId, nonceOf(hello), clientNonce))).toBe(true);
    const auth = authFrame(clientId, clientNonce, mac);
    c.send(auth);
    const ok = (await c.nextFrame())!;
    expect(ok[0]).toBe(FRAME.authOk);
    expect(ok.subarray(1).equals(addonMac(SECRET, 'server', cluster, OWNER, clientId, nonceOf(hello), clientNonce))).toBe(true);
    return auth;
  }

  async function writeAcked(c: RawConn, wrId: number, offset: number, byte: number): Promise<void> {
    c.send(writeFrame(wrId, 'log', offset, Buffer.from([byte])));
    const ack = (await c.nextFrame())!;
    expect(ack[0]).toBe(FRAME.writeAck);
    expect(ack[9]).toBe(0);
    expect(region[offset]).toBe(byte);
  }

  /** Sends `auth` then a pipelined WRITE on a fresh connection; both must be refused. */
  async function expectRefused(auth: Buffer, offset: number): Promise<void> {
    const c = await raw();
    const hello = (await c.nextFrame())!;
    expect(hello[0]).toBe(FRAME.hello);
    c.send(Buffer.concat([auth, writeFrame(99, 'log', offset, Buffer.from([0xee]))]));
    expect(await c.nextFrame(3000)).toBeNull(); // closed without AUTH_OK or WRITE_ACK
    expect(c.closed).toBe(true);
    expect(region[offset]).toBe(0);
  }

  test('a recorded AUTH replayed on a new connection is refused, while and after the original lives', async () => {
    const original = await raw();
    const recorded = await legitimate(original);
    await writeAcked(original, 1, 0, 0x11);

    await expectRefused(recorded, 100); // the original is still connected
    // A successful AUTH as node 2 would have replaced the original connection: it is intact.
    await writeAcked(original, 2, 1, 0x22);

    original.destroy();
    await original.waitClosed();
    await expectRefused(recorded, 101);

    // Every connection gets a fresh challenge, which is what makes the replay useless.
    const a = await raw();
    const b = await raw();
    const [ha, hb] = [(await a.nextFrame())!, (await b.nextFrame())!];
    expect(nonceOf(ha).equals(nonceOf(hb))).toBe(false);
  });

  test('a wrong secret, a server-role MAC and a MAC for another node id are all refused', async () => {
    const forge = async (make: (serverNonce: Buffer, clientNonce: Buffer) => Buffer, offset: number): Promise<void> => {
      const c = await raw();
      const hello = (await c.nextFrame())!;
      const clientNonce = crypto.randomBytes(32);
      c.send(Buffer.concat([make(nonceOf(hello), clientNonce), writeFrame(7, 'log', offset, Buffer.from([0xee]))]));
      expect(await c.nextFrame(3000)).toBeNull();
      expect(region[offset]).toBe(0);
    };
    await forge((s, n) => authFrame(2, n, addonMac('not-the-secret', 'client', cluster, OWNER, 2, s, n)), 200);
    // The server's own proof (role "server") reflected back as a client proof.
    await forge((s, n) => authFrame(2, n, addonMac(SECRET, 'server', cluster, OWNER, 2, s, n)), 201);
    // A MAC valid for node 3 presented as node 2 (who holds the write permission).
    await forge((s, n) => authFrame(2, n, addonMac(SECRET, 'client', cluster, OWNER, 3, s, n)), 202);
    // Another cluster's MAC.
    await forge((s, n) => authFrame(2, n, addonMac(SECRET, 'client', `${cluster}-x`, OWNER, 2, s, n)), 203);
    // The MAC for a different client nonce than the one sent.
    await forge((s, n) => authFrame(2, n, addonMac(SECRET, 'client', cluster, OWNER, 2, s, crypto.randomBytes(32))), 204);
    // The listener still serves a legitimate peer.
    const good = await raw();
    await legitimate(good);
    await writeAcked(good, 3, 205, 0x55);
  });

  test('an AUTH_OK recorded by a man in the middle and replayed to the dialling node is refused', async () => {
    // The proxy first relays a real handshake (recording what the server said), then answers the
    // client's next connection itself: the recorded HELLO, and the recorded AUTH_OK after its AUTH.
    let mode: 'relay' | 'replay' = 'relay';
    let recorded = Buffer.alloc(0);
    let replayAuths = 0;
    let replayRequests = 0;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => undefined);
      if (mode === 'relay') {
        const upstream = net.connect(owner.listenPort, '127.0.0.1');
        sockets.add(upstream);
        upstream.on('error', () => undefined);
        upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
        client.on('close', () => upstream.destroy());
        upstream.on('data', (d: Buffer) => { recorded = Buffer.concat([recorded, d]); client.write(d); });
        client.on('data', (d: Buffer) => upstream.write(d));
        return;
      }
      const helloBytes = 4 + recorded.readUInt32LE(0);
      const authOkBytes = 4 + recorded.readUInt32LE(helloBytes);
      client.write(recorded.subarray(0, helloBytes));
      let received = Buffer.alloc(0);
      client.on('data', (d: Buffer) => {
        received = Buffer.concat([received, d]);
        for (let i = 0; i < 1000 && received.length >= 4 && received.length >= 4 + received.readUInt32LE(0); i++) {
          const body = received.subarray(4, 4 + received.readUInt32LE(0));
          received = received.subarray(4 + body.length);
          if (body[0] === FRAME.auth) {
            replayAuths++;
            client.write(recorded.subarray(helloBytes, helloBytes + authOkBytes));
          } else {
            replayRequests++;
          }
        }
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    closers.push(() => { proxy.close(); sockets.forEach((s) => s.destroy()); });

    const client = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0 });
    closers.unshift(() => client.close());
    client.connectPeer({ peerId: OWNER, host: '127.0.0.1', port: (proxy.address() as net.AddressInfo).port });
    expect(await until(() => client.peerState(OWNER) === 'connected', 5000)).toBe(true);
    // Through the relay the write lands: the proxy is transparent while relaying.
    const wr = client.postWrite(OWNER, 'log', 300, Buffer.from([0x33]));
    expect(await until(() => client.pollCompletions().some((c) => c.wrId === wr && c.ok), 5000)).toBe(true);
    expect(region[300]).toBe(0x33);
    expect(recorded[4]).toBe(FRAME.hello);

    mode = 'replay';
    sockets.forEach((s) => s.destroy());
    expect(await until(() => client.peerState(OWNER) !== 'connected', 5000)).toBe(true);
    // The client reconnects (backoff from 5 ms) and is answered with the replay, several times.
    let everConnected = false;
    await until(() => {
      if (client.peerState(OWNER) === 'connected') everConnected = true;
      return replayAuths >= 3;
    }, 5000);
    expect(replayAuths).toBeGreaterThanOrEqual(1);
    expect(everConnected).toBe(false);
    expect(client.peerState(OWNER)).not.toBe('connected');
    const refused = client.postWrite(OWNER, 'log', 301, Buffer.from([0x44]));
    let completion: ReturnType<NativeFabric['pollCompletions']>[number] | undefined;
    await until(() => { completion ??= client.pollCompletions().find((c) => c.wrId === refused); return completion !== undefined; }, 5000);
    expect(completion).toMatchObject({ ok: false, error: 'unreachable' });
    expect(replayRequests).toBe(0); // the client never sent a request over the replayed session
    expect(region[301]).toBe(0);
  });

  test('a flood of connections that never authenticate is cut to 64, oldest first; a real peer still gets in', async () => {
    const FLOOD = 200;
    const CAP = 64; // kMaxUnauthenticatedInbound in tcp_backend.h
    const startedMs = Date.now();
    const flood: RawConn[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const c = await raw();
      // Waiting for each HELLO makes the server's accept order ours.
      expect((await c.nextFrame())![0]).toBe(FRAME.hello);
      flood.push(c);
    }
    // The oldest are closed now, long before the 2 s handshake timeout would close them.
    expect(await until(() => flood.slice(0, FLOOD - CAP).every((c) => c.closed), 1500)).toBe(true);
    const floodMs = Date.now() - startedMs;
    if (floodMs < 1500) expect(flood.slice(FLOOD - CAP).filter((c) => c.closed).length).toBe(0);
    // A real peer connecting into the full table gets in (it pushes out the oldest flooder).
    const peer = await raw();
    await legitimate(peer);
    await writeAcked(peer, 1, 300, 0x5a);
    expect(await until(() => flood[FLOOD - CAP].closed, 1000)).toBe(true);
  });
});
