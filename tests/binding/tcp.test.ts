import { openFabric, NativeFabric } from '../../binding';
import { backendSuite, tcpCluster } from './backend-suite';
import { FabricChild, seededRandom, uniqueCluster } from './child';
import { FRAME, RawConn, frame, writeFrame } from './wire';

backendSuite('tcp', tcpCluster);

const SECRET = 'cluster-secret';

describe('tcp: authentication and framing at the NIC', () => {
  let cluster: string;
  let owner: NativeFabric;
  let region: Buffer;
  const conns: RawConn[] = [];
  const children: FabricChild[] = [];

  beforeEach(() => {
    cluster = uniqueCluster('tcpwire');
    owner = openFabric({ kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0 });
    region = owner.registerRegion('log', 4096);
  });

  afterEach(async () => {
    conns.splice(0).forEach((c) => c.destroy());
    await Promise.all(children.splice(0).map((c) => c.stop()));
    owner.close();
  });

  async function raw(): Promise<RawConn> {
    const c = await RawConn.connect(owner.listenPort);
    conns.push(c);
    return c;
  }

  test('a peer with the wrong secret is refused and cannot write', async () => {
    owner.grantWrite('log', 2);
    const bad = new FabricChild();
    children.push(bad);
    await bad.must({ op: 'open', options: { kind: 'tcp', selfId: 2, cluster, secret: 'not-the-secret', listenPort: 0 } });
    await bad.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: owner.listenPort });
    const state = await bad.must({ op: 'waitConnected', peerId: 1, timeoutMs: 500 });
    expect(state.state).not.toBe('connected');
    const w = await bad.must({ op: 'write', peerId: 1, region: 'log', offset: 0, hex: 'ff' });
    expect(w.completion).toMatchObject({ ok: false, error: 'unreachable' });
    expect(region[0]).toBe(0);

    // On the wire: a wrong MAC gets no AUTH_OK, just a closed connection.
    const c = await raw();
    expect(await c.handshake('not-the-secret', cluster, 1, 2)).toBeNull();
    expect(c.closed).toBe(true);
  });

  test('a client that is not the node it dialled, or of another cluster, gives up on it', async () => {
    const other = new FabricChild();
    children.push(other);
    await other.must({ op: 'open', options: { kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0 } });
    await other.must({ op: 'connect', peerId: 7, host: '127.0.0.1', port: owner.listenPort }); // owner is node 1
    expect((await other.must({ op: 'waitConnected', peerId: 7, timeoutMs: 300 })).state).not.toBe('connected');
    await other.stop();
    expect(other.stderr()).toMatch(/the peer is node 1/);
  });

  test('writes over the wire: whole frames land, a frame cut by the peer dying does not', async () => {
    owner.grantWrite('log', 5);
    const a = await raw();
    expect((await a.handshake(SECRET, cluster, 1, 5))![0]).toBe(FRAME.authOk);
    const whole = writeFrame(1, 'log', 16, Buffer.from('0123456789', 'utf8'));
    a.send(whole);
    const ack = (await a.nextFrame())!;
    expect(ack[0]).toBe(FRAME.writeAck);
    expect(Number(ack.readBigUInt64LE(1))).toBe(1);
    expect(ack[9]).toBe(0);
    expect(region.subarray(16, 26).toString()).toBe('0123456789');

    const cut = writeFrame(2, 'log', 100, Buffer.alloc(1000, 0x77));
    a.send(cut.subarray(0, cut.length - 10)); // everything but the last 10 bytes, then die
    await new Promise((r) => setTimeout(r, 50));
    a.destroy();
    await a.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    expect(region.subarray(100, 1100).every((b) => b === 0)).toBe(true);

    // Permission is checked per frame against the claimed (authenticated) id.
    const b = await raw();
    expect((await b.handshake(SECRET, cluster, 1, 6))![0]).toBe(FRAME.authOk);
    b.send(writeFrame(3, 'log', 200, Buffer.from('x')));
    const refused = (await b.nextFrame())!;
    expect(refused[9]).toBe(1); // ErrorKind::Permission
    expect(region[200]).toBe(0);
  });

  test('malformed frames drop the connection and never crash the NIC thread', async () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const nic = new FabricChild();
    children.push(nic);
    const { listenPort } = await nic.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0 } });
    await nic.must({ op: 'register', name: 'log', bytes: 4096 });
    await nic.must({ op: 'grant', region: 'log', peerId: 3 });
    const rawTo = async () => { const c = await RawConn.connect(listenPort); conns.push(c); return c; };

    const cases: Array<{ name: string; authenticated: boolean; bytes: Buffer }> = [
      { name: 'huge length prefix', authenticated: false, bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]) },
      { name: 'zero-length frame', authenticated: false, bytes: Buffer.from([0, 0, 0, 0]) },
      { name: 'write before authentication', authenticated: false, bytes: writeFrame(1, 'log', 0, Buffer.from('zz')) },
      { name: 'unknown type', authenticated: true, bytes: frame(Buffer.from([0x7e, 1, 2, 3])) },
      { name: 'write with a short body', authenticated: true, bytes: frame(Buffer.from([FRAME.write, 1, 2, 3])) },
      { name: 'write whose length overruns its frame', authenticated: true, bytes: writeFrame(1, 'log', 0, Buffer.from('abcd')).subarray(0, 30) },
      { name: 'region name with a slash', authenticated: true, bytes: writeFrame(1, 'l/g', 0, Buffer.from('a')) },
      { name: 'a server-only frame from a client', authenticated: true, bytes: frame(Buffer.from([FRAME.writeAck, 0, 0, 0, 0, 0, 0, 0, 0, 0])) },
    ];
    for (let i = 0; i < 20; i++) {
      const body = Buffer.alloc(1 + Math.floor(random() * 60));
      for (let j = 0; j < body.length; j++) body[j] = Math.floor(random() * 256);
      body[0] = [FRAME.write, FRAME.read, FRAME.auth, 0x55][Math.floor(random() * 4)];
      cases.push({ name: `random body ${i}`, authenticated: true, bytes: frame(body) });
    }
    try {
      for (const c of cases) {
        const conn = await rawTo();
        if (c.authenticated) expect((await conn.handshake(SECRET, cluster, 1, 3))![0]).toBe(FRAME.authOk);
        else await conn.nextFrame(); // HELLO
        // A truncated frame is not malformed yet: the server waits for more, then sees the peer go.
        conn.send(c.bytes);
        if (c.name.includes('overruns')) conn.socket.end();
        const closed = await conn.waitClosed(3000);
        if (!closed) throw new Error(`case '${c.name}': connection not dropped`);
      }
      // The NIC still serves a well-behaved peer, and nothing above changed its memory.
      const good = new FabricChild();
      children.push(good);
      await good.must({ op: 'open', options: { kind: 'tcp', selfId: 3, cluster, secret: SECRET, listenPort: 0 } });
      await good.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: listenPort });
      expect((await good.must({ op: 'waitConnected', peerId: 1 })).state).toBe('connected');
      const before = await good.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 4096 });
      expect(/^0*$/.test(before.hex)).toBe(true);
      expect((await good.must({ op: 'write', peerId: 1, region: 'log', offset: 0, hex: '5a' })).completion.ok).toBe(true);
      expect((await good.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 1 })).hex).toBe('5a');
    } catch (e) {
      throw new Error(`seed ${seed}: ${(e as Error).message}`);
    }
    await nic.stop();
    expect(nic.proc.exitCode).toBe(0);
    expect(nic.stderr()).toMatch(/malformed frame/);
    expect(nic.stderr()).toMatch(/frame before authentication/);
  });

  test('reads are served without permission; out-of-range reads are refused', async () => {
    region.write('abc', 10);
    const reader = new FabricChild();
    children.push(reader);
    await reader.must({ op: 'open', options: { kind: 'tcp', selfId: 4, cluster, secret: SECRET, listenPort: 0 } });
    await reader.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: owner.listenPort });
    expect((await reader.must({ op: 'waitConnected', peerId: 1 })).state).toBe('connected');
    const r = await reader.must({ op: 'read', peerId: 1, region: 'log', offset: 10, length: 3 });
    expect(Buffer.from(r.hex, 'hex').toString()).toBe('abc');
    const out = await reader.must({ op: 'read', peerId: 1, region: 'log', offset: 4095, length: 2 });
    expect(out.completion).toMatchObject({ ok: false, error: 'bounds' });
  });
});

describe('tcp: a peer that is gone and a peer that is only silent', () => {
  // mu-core counts 'gone' (the peer's host answered that nothing serves the port) as a dead peer at
  // once, and 'unreachable' (no answer, handshake pending) as a third of the fuse: the fabric must
  // not call a silent peer gone.
  test('a killed peer reads as gone, then (refused) still gone; a listener that never answers reads as unreachable', async () => {
    const cluster = uniqueCluster('tcpgone');
    const reader = new FabricChild();
    const owner = new FabricChild();
    const silentConns: import('net').Socket[] = [];
    const silent = (await import('net')).createServer((s) => { silentConns.push(s); });
    try {
      const ownerPort = (await owner.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenHost: '127.0.0.1', listenPort: 0 } })).listenPort as number;
      await owner.must({ op: 'register', name: 'log', bytes: 4096 });
      await reader.must({ op: 'open', options: { kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenHost: '127.0.0.1', listenPort: 0 } });
      await reader.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: ownerPort });
      expect((await reader.must({ op: 'waitConnected', peerId: 1, timeoutMs: 5000 })).state).toBe('connected');
      expect((await reader.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 8 })).completion.ok).toBe(true);

      await owner.kill('SIGKILL');
      const errors: string[] = [];
      for (let i = 0; i < 200 && errors.filter((e) => e === 'gone').length < 3; i++) {
        const r = await reader.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 8 });
        if (!r.completion.ok) errors.push(r.completion.error);
        await new Promise((res) => setTimeout(res, 5));
      }
      // After the close, reconnects are refused: every failure from then on is 'gone'.
      expect(errors.filter((e) => e === 'gone').length).toBe(3);
      expect(errors.slice(errors.indexOf('gone'))).toEqual(errors.slice(errors.indexOf('gone')).map(() => 'gone'));

      await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
      const silentPort = (silent.address() as import('net').AddressInfo).port;
      await reader.must({ op: 'connect', peerId: 3, host: '127.0.0.1', port: silentPort });
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const r = await reader.must({ op: 'read', peerId: 3, region: 'log', offset: 0, length: 8 });
        seen.add(r.completion.ok ? 'ok' : r.completion.error);
        await new Promise((res) => setTimeout(res, 20));
      }
      expect([...seen]).toEqual(['unreachable']);
    } finally {
      silentConns.forEach((s) => s.destroy());
      silent.close();
      await reader.stop();
      await owner.stop();
    }
  });
});

describe('tcp: watching a peer', () => {
  /** Resolves at the next onPeerGone call, or with false after `ms`. */
  const nextGone = (f: NativeFabric, ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { f.onPeerGone(null); resolve(false); }, ms);
      f.onPeerGone(() => { clearTimeout(timer); f.onPeerGone(null); resolve(true); });
    });

  test('tells when the peer process is killed or closes its fabric, and not while it lives or when nobody answers', async () => {
    const cluster = uniqueCluster('tcpwatch');
    const me = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenHost: '127.0.0.1', listenPort: 0 });
    const owners: FabricChild[] = [];
    const silentConns: import('net').Socket[] = [];
    const silent = (await import('net')).createServer((s) => { silentConns.push(s); });
    const connected = async (peerId: number) => {
      for (let i = 0; i < 500 && me.peerState(peerId) !== 'connected'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(me.peerState(peerId)).toBe('connected');
    };
    try {
      const start = async (listenPort: number) => {
        const owner = new FabricChild();
        owners.push(owner);
        const port = (await owner.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenHost: '127.0.0.1', listenPort } })).listenPort as number;
        await owner.must({ op: 'register', name: 'ctl', bytes: 64 });
        return { owner, port };
      };
      const first = await start(0);
      me.connectPeer({ peerId: 1, host: '127.0.0.1', port: first.port });
      expect(me.watchPeerGone(1, 'ctl')).toBe(true);
      await connected(1);
      expect(await nextGone(me, 400)).toBe(false);
      const gone = nextGone(me, 10_000);
      process.kill(first.owner.pid, 'SIGKILL');
      expect(await gone).toBe(true);
      const into = Buffer.alloc(8);
      const wrId = me.postRead(1, 'ctl', 0, 8, into);
      expect(me.pollCompletions(16).find((c) => c.wrId === wrId)).toMatchObject({ ok: false, error: 'gone' });
      // Refused reconnects to the dead port are no news: no further signal.
      expect(await nextGone(me, 300)).toBe(false);
      await first.owner.stop();

      // Its next incarnation, on the same port, is watched too (the watch outlives a connection),
      // and a clean close of its fabric counts as gone.
      const second = await start(first.port);
      await connected(1);
      const closed = nextGone(me, 10_000);
      await second.owner.stop();
      expect(await closed).toBe(true);

      // A listener that accepts and never answers resets nothing: silence is the scans' to judge.
      await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
      me.connectPeer({ peerId: 3, host: '127.0.0.1', port: (silent.address() as import('net').AddressInfo).port });
      expect(me.watchPeerGone(3, 'ctl')).toBe(true);
      expect(await nextGone(me, 400)).toBe(false);
    } finally {
      silentConns.forEach((s) => s.destroy());
      silent.close();
      me.close();
      await Promise.all(owners.map((o) => o.stop()));
    }
  });
});
