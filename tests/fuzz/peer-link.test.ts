/**
 * The daemons' peer links (daemon/cluster/peer-link.ts over peer-wire.ts) against an attacker on
 * the peer port: wrong secret, a recorded hello replayed on a new connection, a proof made for
 * another node id, role, nonce or cluster, a hello of the older handshake, and fuzzed garbage
 * before authentication (frames that are not JSON objects,
 * answers that are not hex, random bytes). Each is refused by closing the connection, the request
 * handler never runs for it, and the listener keeps serving a legitimate dialer. The dialer's side
 * (fake listeners, replayed welcomes, timeouts) is in peer-link-auth.test.ts.
 * The frame reader itself is fuzzed too: any chunking gives the same messages; garbage throws an
 * Error (which the link turns into a closed connection), never anything else.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as crypto from 'crypto';
import * as fc from 'fast-check';
import * as net from 'net';
import { encodeFrame, FrameReader, handshakeProof, newNonce, PEER_HANDSHAKE_VERSION, ProofRole } from '../../daemon/cluster/peer-wire';
import { PeerDialer, PeerLinkError, PeerListener } from '../../daemon/cluster/peer-link';
import { check, FUZZ_SEED } from './fuzz-config';
import { cutsArb, split } from './mutate';
import { Rng } from '../helpers/rng';

const SECRET = 'peer-link-secret';
const CLUSTER = 'peer-link-test';
const LISTENER_ID = 1;

/** A hello of the current handshake, answering `challenge` as `clientId` (override any part to forge). */
function hello(challenge: string, clientId: number, o: { secret?: string; role?: ProofRole; cluster?: string; serverId?: number; nonce?: string; proofNonce?: string } = {}): Record<string, unknown> {
  const nonce = o.nonce ?? newNonce();
  const answer = handshakeProof(o.secret ?? SECRET, o.role ?? 'client', {
    cluster: o.cluster ?? CLUSTER, serverId: o.serverId ?? LISTENER_ID, clientId, challenge, nonce: o.proofNonce ?? nonce,
  });
  return { t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: clientId, nonce, answer };
}

/** A raw client of the peer port: decoded frames in arrival order, bounded waits. */
class RawPeer {
  readonly frames: Array<Record<string, unknown>> = [];
  private readonly reader = new FrameReader();
  closed = false;
  private wake?: () => void;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      try {
        this.frames.push(...(this.reader.push(d) as Array<Record<string, unknown>>));
      } catch {
        socket.destroy();
      }
      this.wake?.();
    });
    socket.on('close', () => { this.closed = true; this.wake?.(); });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  async until(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000 && !cond() && Date.now() < deadline; i++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
    return cond();
  }

  async challenge(): Promise<string> {
    if (!(await this.until(() => this.frames.length > 0 || this.closed))) throw new Error('no challenge');
    const first = this.frames.shift()!;
    if (first.t !== 'challenge' || typeof first.c !== 'string') throw new Error(`expected a challenge, got ${JSON.stringify(first)}`);
    return first.c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}

function rawFrame(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = Buffer.alloc(4);
  head.writeUInt32BE(b.length >>> 0);
  return Buffer.concat([head, b]);
}

describe('peer links: authentication against replay and forgery', () => {
  let listener: PeerListener;
  let port: number;
  const handled: Array<{ from: number; request: Record<string, unknown> }> = [];
  const logLines: string[] = [];
  const cleanups: Array<() => void> = [];

  beforeEach(async () => {
    handled.length = 0;
    logLines.length = 0;
    listener = new PeerListener(SECRET, new Set([1, 2, 3]), async (from, request) => {
      handled.push({ from, request });
      return { echo: request.op };
    }, { info: (m) => logLines.push(m) }, { selfId: LISTENER_ID, cluster: CLUSTER });
    port = await listener.listen('127.0.0.1', 0);
  });

  afterEach(() => {
    cleanups.splice(0).forEach((c) => c());
    listener.close();
  });

  async function raw(): Promise<RawPeer> {
    const p = await RawPeer.connect(port);
    cleanups.push(() => p.socket.destroy());
    return p;
  }

  async function legitimateDialerWorks(op: string): Promise<void> {
    const dialer = new PeerDialer(2, SECRET, '127.0.0.1', port, 1000, { peerId: LISTENER_ID, cluster: CLUSTER });
    cleanups.push(() => dialer.close());
    const answer = await dialer.request({ op });
    expect(answer).toMatchObject({ ok: true, echo: op });
    expect(handled[handled.length - 1]).toMatchObject({ from: 2, request: { op } });
  }

  test('a dialer with the wrong secret is refused and its request never runs', async () => {
    const dialer = new PeerDialer(2, 'not-the-secret', '127.0.0.1', port, 1000, { cluster: CLUSTER });
    cleanups.push(() => dialer.close());
    const err = await dialer.request({ op: 'set' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PeerLinkError);
    expect((err as PeerLinkError).retryable).toBe(true);
    expect((err as PeerLinkError).delivered).toBe(false);
    expect(handled).toHaveLength(0);
    expect(logLines.join('\n')).toMatch(/refused a connection .*bad proof from node 2/);
    await legitimateDialerWorks('after-wrong-secret');
  });

  test('a recorded hello replayed on a new connection is refused, with its pipelined request', async () => {
    const first = await raw();
    const c1 = await first.challenge();
    const recorded = encodeFrame(hello(c1, 2));
    first.send(recorded);
    expect(await first.until(() => first.frames.some((f) => f.t === 'welcome'))).toBe(true);
    first.send(encodeFrame({ op: 'legit', id: 1 }));
    expect(await first.until(() => first.frames.some((f) => f.t === 'reply'))).toBe(true);
    expect(handled).toEqual([{ from: 2, request: { op: 'legit', id: 1 } }]);

    for (const keepOriginal of [true, false]) {
      if (!keepOriginal) first.socket.destroy();
      const replay = await raw();
      const c2 = await replay.challenge();
      expect(c2).not.toBe(c1);
      replay.send(Buffer.concat([recorded, encodeFrame({ op: 'replayed', id: 2 })]));
      expect(await replay.until(() => replay.closed)).toBe(true);
      expect(replay.frames).toEqual([]); // no welcome, no reply
    }
    expect(handled).toHaveLength(1);
  });

  test('a proof for another node id, role, nonce or cluster, or from an unknown node, is refused', async () => {
    const forge = async (make: (challenge: string) => Record<string, unknown>): Promise<void> => {
      const p = await raw();
      const c = await p.challenge();
      p.send(Buffer.concat([encodeFrame(make(c)), encodeFrame({ op: 'forged', id: 1 })]));
      expect(await p.until(() => p.closed)).toBe(true);
      expect(p.frames).toEqual([]);
    };
    await forge((c) => ({ ...hello(c, 3), nodeId: 2 }));
    await forge((c) => hello(c, 9));
    await forge((c) => ({ ...hello(c, 2, { secret: 'x' }), nodeId: '2' }));
    await forge((c) => ({ ...hello(c, 2), t: 'nothello' }));
    await forge(() => hello(newNonce(), 2)); // a challenge from another connection
    await forge((c) => hello(c, 2, { role: 'server' })); // a listener's proof passed off as a dialer's
    await forge((c) => hello(c, 2, { proofNonce: newNonce() })); // proof made for another nonce
    await forge((c) => hello(c, 2, { cluster: 'another-cluster' }));
    await forge((c) => hello(c, 2, { serverId: 3 })); // a proof meant for node 3's listener
    await forge((c) => hello(c, LISTENER_ID)); // claims to be the listener itself
    await forge((c) => ({ ...hello(c, 2), v: PEER_HANDSHAKE_VERSION + 1 }));
    await forge((c) => ({ ...hello(c, 2), nonce: 'short' }));
    expect(handled).toHaveLength(0);
    await legitimateDialerWorks('after-forgeries');
  });

  test('a dialer of the older handshake (no nonce) is refused with a log line saying so', async () => {
    const p = await raw();
    const c = await p.challenge();
    // The previous version's hello: HMAC(secret, "challenge:nodeId"), no version, no nonce.
    const oldAnswer = crypto.createHmac('sha256', SECRET).update(`${c}:2`).digest('hex');
    p.send(Buffer.concat([encodeFrame({ t: 'hello', nodeId: 2, answer: oldAnswer }), encodeFrame({ op: 'old', id: 1 })]));
    expect(await p.until(() => p.closed)).toBe(true);
    expect(p.frames).toEqual([]);
    expect(handled).toHaveLength(0);
    expect(logLines.join('\n')).toMatch(/node 2 speaks the older peer-link handshake .*upgrade it/);
  });

  test('garbage before authentication closes the connection and never crashes the listener', async () => {
    const rng = new Rng(FUZZ_SEED);
    const fixed: Buffer[] = [
      rawFrame('null'), rawFrame('[]'), rawFrame('42'), rawFrame('"hello"'), rawFrame('true'), rawFrame('{'), rawFrame(''),
      rawFrame('{"t":"hello","nodeId":2,"answer":"' + 'z'.repeat(64) + '"}'),
      rawFrame('{"t":"hello","nodeId":2,"answer":"' + 'ab'.repeat(31) + 'g0"}'),
      rawFrame('{"t":"hello","nodeId":2,"answer":{"$b":"AAAA"}}'),
      rawFrame('{"t":"hello","nodeId":2,"answer":{"$n":"12"}}'),
      rawFrame('{"t":"hello","nodeId":{"$n":"not-a-number"}}'),
      rawFrame('{"t":"hello","nodeId":2,"answer":null,"__proto__":{"x":1}}'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0]),
      rawFrame(Buffer.from([0xc3, 0x28, 0xa0, 0xa1])),
    ];
    const randomFrames = Array.from({ length: 40 }, () => (rng.chance(0.5) ? rawFrame(rng.bytes(rng.range(0, 200))) : rng.bytes(rng.range(1, 300))));
    try {
      for (const bytes of [...fixed, ...randomFrames]) {
        const p = await raw();
        await p.challenge();
        p.send(bytes);
        // Anything not a complete valid hello: either closed now, or (an unfinished frame) still
        // waiting; nothing may come back but a close.
        await p.until(() => p.closed, 200);
        expect(p.frames).toEqual([]);
        p.socket.destroy();
      }
    } catch (e) {
      throw new Error(`seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED}): ${(e as Error).message}`);
    }
    expect(handled).toHaveLength(0);
    await legitimateDialerWorks('after-garbage');
  });
});

describe('peer-wire frame reader: fuzzed', () => {
  const valueArb = fc.oneof(
    fc.string(), fc.integer(), fc.boolean(), fc.constant(null),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
  );
  const messageArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__proto__'), valueArb, { maxKeys: 6 });

  test('any chunking of encoded frames decodes to the same messages', () => {
    check(fc.property(fc.array(messageArb, { maxLength: 6 }), cutsArb, (messages, cuts) => {
      const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
      const reader = new FrameReader();
      const decoded = split(bytes, cuts).flatMap((c) => reader.push(c));
      expect(decoded).toEqual(messages);
    }), 300);
  });

  test('garbage only ever throws an Error, and what it returns are objects', () => {
    check(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { maxLength: 8 }), (chunks) => {
      const reader = new FrameReader();
      for (const chunk of chunks) {
        let out: unknown[];
        try {
          out = reader.push(chunk);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          return;
        }
        for (const m of out) expect(m !== null && typeof m === 'object' && !Array.isArray(m)).toBe(true);
      }
    }), 1000);
  });
});
