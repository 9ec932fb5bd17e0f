/**
 * Mutual authentication and pre-auth limits of the daemons' peer links (daemon/cluster/peer-link.ts).
 * The dialer's side: a listener that does not know the secret (no proof, a guessed proof, the
 * dialer's own proof reflected, a forged reply) or that replays a welcome recorded on another
 * connection, or a man in the middle substituting its own challenge, never makes `request()`
 * resolve, and the dialer never sends it a request. The listener's side: a silent socket is closed
 * by the handshake timeout, a frame over the pre-auth limit is refused from its length prefix, and
 * neither limit touches an authenticated link.
 */
import * as net from 'net';
import { encodeFrame, FrameReader, handshakeProof, newNonce, PEER_HANDSHAKE_VERSION, PRE_AUTH_MAX_FRAME_BYTES } from '../../daemon/cluster/peer-wire';
import { MAX_UNAUTHENTICATED_PEER_SOCKETS, PeerDialer, PeerLinkError, PeerListener } from '../../daemon/cluster/peer-link';

const SECRET = 'peer-link-auth-secret';
const CLUSTER = 'auth-test';
const LISTENER_ID = 1;
const DIALER_ID = 2;
/** Generous: only bounds a wait for something that should happen at once, never asserted as a time. */
const WAIT_MS = 5000;

type Frame = Record<string, unknown>;

/** One end of a raw connection: the frames it received, in order, and bounded waits. */
class Wire {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly reader = new FrameReader();
  /** Every pending `until` (the script and the test may both wait on one wire). */
  private readonly wakers = new Set<() => void>();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      try {
        this.frames.push(...(this.reader.push(d) as Frame[]));
      } catch {
        socket.destroy();
      }
      this.wakeAll();
    });
    socket.on('close', () => { this.closed = true; this.wakeAll(); });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new Wire(s)));
      s.once('error', reject);
    });
  }

  async until(cond: () => boolean, timeoutMs = WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000 && !cond() && Date.now() < deadline; i++) {
      await new Promise<void>((resolve) => {
        const wake = (): void => { clearTimeout(timer); this.wakers.delete(wake); resolve(); };
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.wakers.add(wake);
      });
    }
    return cond();
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** The next frame received, or an error naming what was expected. */
  async take(what: string): Promise<Frame> {
    if (!(await this.until(() => this.frames.length > 0 || this.closed))) throw new Error(`no ${what} within ${WAIT_MS} ms`);
    const f = this.frames.shift();
    if (!f) throw new Error(`closed before a ${what}`);
    return f;
  }

  send(message: Frame | Buffer): void {
    this.socket.write(Buffer.isBuffer(message) ? message : encodeFrame(message));
  }
}

/** A listener under the test's control: `script` plays the listener's side of each connection. */
async function fakeListener(script: (w: Wire) => Promise<void>): Promise<{ port: number; wires: Wire[]; close: () => void }> {
  const wires: Wire[] = [];
  const server = net.createServer((s) => {
    const w = new Wire(s);
    wires.push(w);
    script(w).catch(() => s.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    wires,
    close: () => { server.close(); wires.forEach((w) => w.socket.destroy()); },
  };
}

/** Polls `cond` (conditions spanning many wires), bounded by `timeoutMs`. */
async function eventually(cond: () => boolean, timeoutMs = WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && !cond() && Date.now() < deadline; i++) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

const challengeFrame = (c: string, nodeId = LISTENER_ID): Frame => ({ t: 'challenge', v: PEER_HANDSHAKE_VERSION, c, nodeId });

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function dialer(port: number, log?: string[], peerId = LISTENER_ID): PeerDialer {
  const d = new PeerDialer(DIALER_ID, SECRET, '127.0.0.1', port, 2000, { peerId, cluster: CLUSTER, log: log && { info: (m) => log.push(m) } });
  cleanups.push(() => d.close());
  return d;
}

/** request() must reject, undelivered and retryable, with a message matching `why`. */
async function expectRefused(d: PeerDialer, why: RegExp): Promise<void> {
  const outcome = await d.request({ t: 'op', op: 'forward-me' }).then((a) => a, (e: unknown) => e);
  expect(outcome).toBeInstanceOf(PeerLinkError);
  const err = outcome as PeerLinkError;
  expect(err.message).toMatch(why);
  expect(err.retryable).toBe(true);
  expect(err.delivered).toBe(false);
}

async function realListener(handshakeTimeoutMs?: number): Promise<{ port: number; log: string[]; handled: Frame[] }> {
  const log: string[] = [];
  const handled: Frame[] = [];
  const listener = new PeerListener(SECRET, new Set([1, 2, 3]), async (_from, req) => {
    handled.push(req);
    return { echoBytes: JSON.stringify(req).length };
  }, { info: (m) => log.push(m) }, { selfId: LISTENER_ID, cluster: CLUSTER, handshakeTimeoutMs });
  cleanups.push(() => listener.close());
  return { port: await listener.listen('127.0.0.1', 0), log, handled };
}

describe('peer dialer: the listener must prove it knows the secret', () => {
  const FIXED_CHALLENGE = newNonce();
  /** Each plays a listener without the secret answering the dialer's hello. */
  const impostors: Array<[string, (hello: Frame) => Frame[], RegExp]> = [
    ['a welcome without a proof', () => [{ t: 'welcome' }], /welcome without a proof/],
    ['a guessed proof', () => [{ t: 'welcome', proof: newNonce() }], /bad welcome proof/],
    ['a proof made with another secret', (h) => [{
      t: 'welcome', proof: handshakeProof('guess', 'server', { cluster: CLUSTER, serverId: LISTENER_ID, clientId: DIALER_ID, challenge: FIXED_CHALLENGE, nonce: String(h.nonce) }),
    }], /bad welcome proof/],
    ["the dialer's own proof reflected back", (h) => [{ t: 'welcome', proof: h.answer }], /bad welcome proof/],
    ['a non-hex proof', () => [{ t: 'welcome', proof: 'zz'.repeat(32) }], /bad welcome proof/],
    ['a forged reply instead of a welcome', () => [{ t: 'reply', id: 1, ok: true, forged: true }], /expected a welcome, got "reply"/],
    ['a forged reply after the welcome', () => [{ t: 'welcome' }, { t: 'reply', id: 1, ok: true, forged: true }], /welcome without a proof/],
  ];
  test.each(impostors)('%s: request() rejects and no request is ever sent', async (_name, answer, why) => {
    const log: string[] = [];
    const fake = await fakeListener(async (w) => {
      w.send(challengeFrame(FIXED_CHALLENGE));
      const hello = await w.take('hello');
      for (const f of answer(hello)) w.send(f);
    });
    cleanups.push(fake.close);
    await expectRefused(dialer(fake.port, log), why);
    expect(fake.wires).toHaveLength(1);
    await fake.wires[0].until(() => fake.wires[0].closed);
    // All the impostor ever got was the hello: no forwarded write, no snapshot request.
    expect(fake.wires[0].frames).toEqual([]);
    expect(log.join('\n')).toMatch(why);
  });

  test('a listener of the older handshake (no version, no proof) is refused before we say anything', async () => {
    const fake = await fakeListener(async (w) => {
      w.send({ t: 'challenge', c: newNonce() });
      await w.until(() => w.closed);
    });
    cleanups.push(fake.close);
    await expectRefused(dialer(fake.port), /older peer-link handshake.*upgrade it/);
    await fake.wires[0].until(() => fake.wires[0].closed);
    expect(fake.wires[0].frames).toEqual([]);
  });

  test('a listener announcing another node id than the one we dial is refused', async () => {
    const { port, handled } = await realListener();
    await expectRefused(dialer(port, undefined, 3), /expected node 3, but the peer is node 1/);
    expect(handled).toEqual([]);
  });

  test('a pre-auth frame over the limit from the listener is refused from its length prefix', async () => {
    const fake = await fakeListener(async (w) => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(64 * 1024 * 1024);
      w.send(head); // and never the body
      await w.until(() => w.closed);
    });
    cleanups.push(fake.close);
    await expectRefused(dialer(fake.port), new RegExp(`over the ${PRE_AUTH_MAX_FRAME_BYTES} limit`));
  });

  test('a welcome recorded on a genuine connection is refused when replayed', async () => {
    const real = await realListener();
    // Record a genuine handshake with the real listener (as a node that knows the secret would).
    const genuine = await Wire.connect(real.port);
    cleanups.push(() => genuine.socket.destroy());
    const challenge = await genuine.take('challenge');
    const nonce = newNonce();
    const facts = { cluster: CLUSTER, serverId: LISTENER_ID, clientId: DIALER_ID, challenge: String(challenge.c), nonce };
    genuine.send({ t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: DIALER_ID, nonce, answer: handshakeProof(SECRET, 'client', facts) });
    const welcome = await genuine.take('welcome');
    expect(welcome.t).toBe('welcome');

    // Replay that challenge and welcome to a dialer: its fresh nonce makes the recorded proof stale.
    const fake = await fakeListener(async (w) => {
      w.send(challenge);
      await w.take('hello');
      w.send(welcome);
    });
    cleanups.push(fake.close);
    await expectRefused(dialer(fake.port), /bad welcome proof/);
    expect(fake.wires[0].frames).toEqual([]);
    expect(real.handled).toEqual([]);
  });

  test.each([
    ['its own challenge', (c: Frame): Frame => ({ ...c, c: newNonce() })],
    ['another announced node id', (c: Frame): Frame => ({ ...c, nodeId: 0 })],
  ])('a man in the middle substituting %s cannot relay the proofs', async (_name, substitute) => {
    const real = await realListener();
    const relayed: Frame[] = [];
    const mitm = await fakeListener(async (w) => {
      const upstream = await Wire.connect(real.port);
      cleanups.push(() => upstream.socket.destroy());
      w.send(substitute(await upstream.take('challenge')));
      upstream.send(await w.take('hello'));
      const answer = await upstream.take('welcome');
      relayed.push(answer);
      w.send(answer);
    });
    cleanups.push(mitm.close);
    await expectRefused(dialer(mitm.port), /closed before authentication|bad welcome proof/);
    // The real listener refused the relayed hello: there was no welcome to relay.
    expect(relayed).toEqual([]);
    expect(real.log.join('\n')).toMatch(/bad proof from node 2/);
    expect(real.handled).toEqual([]);
  });

  test('a genuine listener is accepted, and frames over the pre-auth limit flow once authenticated', async () => {
    const { port, handled } = await realListener();
    const d = dialer(port);
    const big = 'x'.repeat(100 * PRE_AUTH_MAX_FRAME_BYTES);
    const answer = await d.request({ t: 'op', big });
    expect(answer).toMatchObject({ ok: true, echoBytes: JSON.stringify(handled[0]).length });
    expect(handled[0].big).toBe(big);
  });
});

describe('peer listener: limits before authentication', () => {
  const SHORT_TIMEOUT_MS = 200;

  test('a socket that never authenticates is closed by the handshake timeout', async () => {
    const { port, log } = await realListener(SHORT_TIMEOUT_MS);
    const silent = await Wire.connect(port);
    const partial = await Wire.connect(port);
    cleanups.push(() => { silent.socket.destroy(); partial.socket.destroy(); });
    expect((await partial.take('challenge')).t).toBe('challenge');
    partial.send(encodeFrame({ t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: 2 }).subarray(0, 10)); // half a hello, then silence
    expect(await silent.until(() => silent.closed, 10 * WAIT_MS)).toBe(true);
    expect(await partial.until(() => partial.closed, 10 * WAIT_MS)).toBe(true);
    expect(log.filter((l) => /not authenticated within 200 ms/.test(l))).toHaveLength(2);
  });

  test('an authenticated link outlives the handshake timeout', async () => {
    const { port, handled } = await realListener(SHORT_TIMEOUT_MS);
    const w = await Wire.connect(port);
    cleanups.push(() => w.socket.destroy());
    const challenge = await w.take('challenge');
    const nonce = newNonce();
    const facts = { cluster: CLUSTER, serverId: LISTENER_ID, clientId: DIALER_ID, challenge: String(challenge.c), nonce };
    w.send({ t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: DIALER_ID, nonce, answer: handshakeProof(SECRET, 'client', facts) });
    expect((await w.take('welcome')).t).toBe('welcome');
    await new Promise((r) => setTimeout(r, 3 * SHORT_TIMEOUT_MS));
    w.send({ t: 'op', id: 7 });
    expect(await w.take('reply')).toMatchObject({ t: 'reply', id: 7, ok: true });
    expect(w.closed).toBe(false);
    expect(handled).toEqual([{ t: 'op', id: 7 }]);
  });

  test('a pre-auth frame over the limit is refused from its length prefix alone', async () => {
    const { port, log } = await realListener(); // the default 5 s timeout: not what closes it
    for (const announced of [PRE_AUTH_MAX_FRAME_BYTES + 1, 64 * 1024 * 1024]) {
      const w = await Wire.connect(port);
      cleanups.push(() => w.socket.destroy());
      await w.take('challenge');
      const head = Buffer.alloc(4);
      head.writeUInt32BE(announced);
      w.send(head);
      expect(await w.until(() => w.closed)).toBe(true);
      expect(log[log.length - 1]).toMatch(new RegExp(`announces ${announced} bytes, over the ${PRE_AUTH_MAX_FRAME_BYTES} limit`));
    }
    // A whole pre-auth frame just over the limit (a padded hello) is refused the same way.
    const padded = await Wire.connect(port);
    cleanups.push(() => padded.socket.destroy());
    await padded.take('challenge');
    padded.send({ t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: 2, pad: 'p'.repeat(PRE_AUTH_MAX_FRAME_BYTES) });
    expect(await padded.until(() => padded.closed)).toBe(true);
    expect(log[log.length - 1]).toMatch(/over the 4096 limit/);
  });

  test('a flood of sockets that never authenticate is cut to 64, oldest first, logged in bounded lines; a real peer still gets in', async () => {
    // A handshake timeout far beyond every wait here: only the cap can close them.
    const { port, log } = await realListener(120_000);
    const FLOOD = 200;
    const flood: Wire[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const w = await Wire.connect(port);
      cleanups.push(() => w.socket.destroy());
      // Waiting for each challenge makes the listener's accept order ours.
      expect((await w.take('challenge')).t).toBe('challenge');
      flood.push(w);
    }
    const oldest = flood.slice(0, FLOOD - MAX_UNAUTHENTICATED_PEER_SOCKETS);
    const newest = flood.slice(FLOOD - MAX_UNAUTHENTICATED_PEER_SOCKETS);
    expect(await eventually(() => oldest.every((w) => w.closed))).toBe(true);
    expect(newest.filter((w) => w.closed)).toHaveLength(0);
    // A real dialer's request is served (its socket pushes out the oldest flooder).
    const d = dialer(port);
    expect(await d.request({ t: 'op', n: 1 })).toMatchObject({ ok: true });
    expect(await eventually(() => newest[0].closed)).toBe(true);
    // 137 refusals: the first ten logged one by one, the rest counted into a line of their own.
    const refusals = log.filter((l) => /peer link: refused/.test(l));
    expect(await eventually(() => log.some((l) => /refused \d+ more connection/.test(l)))).toBe(true);
    expect(log.filter((l) => /have not authenticated; the oldest is dropped/.test(l)).length).toBeLessThanOrEqual(10);
    expect(refusals.length).toBeLessThan(20);
  });
});
