/**
 * A tcp fabric listener (its NIC thread, in a child process) under garbage from many raw sockets:
 * random bytes, plausible length prefixes followed by megabytes before authentication, AUTH frames
 * with wrong MACs or mutated, valid-looking frames before authentication, silent connections. It
 * must drop every one of them (at the latest when the handshake timeout expires), keep serving a
 * legitimate peer throughout, and its memory must stay bounded: peak RSS (VmHWM) may not grow by
 * more than a fixed amount, however many bytes the garbage announced.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as fs from 'fs';
import { FabricChild, uniqueCluster } from './child';
import { FRAME, RawConn, authMac, frame, writeFrame } from './wire';
import { Rng, seedFromEnv } from '../helpers/rng';

const SECRET = 'garbage-test-secret';
const WAVES = 4;
const SOCKETS_PER_WAVE = 24;
/** Bytes a "big announcement" socket sends before authentication. */
const FLOOD_BYTES = 16 * 1024 * 1024;
/** What the NIC may hold at its peak beyond its idle RSS: the garbage announces far more. */
const MAX_PEAK_GROWTH_BYTES = 32 * 1024 * 1024;
/** The NIC drops unauthenticated connections after 2 s (kHandshakeTimeoutNs); allow for load. */
const DROP_WITHIN_MS = 8000;

function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

function lengthPrefixed(body: number, rest: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body >>> 0);
  return Buffer.concat([head, rest]);
}

type Garbage = { name: string; bytes: (hello: Buffer | null) => Buffer; keepOpen: boolean; waitHello: boolean };

function garbageKinds(rng: Rng, cluster: string): Garbage[] {
  const auth = (hello: Buffer | null, secret: string, clientId: number, mutate: boolean): Buffer => {
    const serverNonce = hello ? hello.subarray(hello.length - 32) : rng.bytes(32);
    const clientNonce = rng.bytes(32);
    const head = Buffer.alloc(5);
    head[0] = FRAME.auth;
    head.writeUInt32LE(clientId >>> 0, 1);
    const f = frame(Buffer.concat([head, clientNonce, authMac(secret, 'client', cluster, 1, clientId, serverNonce, clientNonce)]));
    if (mutate) f[4 + rng.int(f.length - 4)] ^= 1 << rng.int(8);
    return f;
  };
  return [
    { name: 'random bytes', bytes: () => rng.bytes(rng.range(1, 4096)), keepOpen: rng.chance(0.5), waitHello: false },
    // A length the decoder accepts, then megabytes: never a valid AUTH, so nothing to buffer for.
    { name: 'big announcement', bytes: () => lengthPrefixed(rng.range(FLOOD_BYTES, 64 << 20), Buffer.alloc(FLOOD_BYTES, 0x41)), keepOpen: true, waitHello: false },
    { name: 'announced, then silence', bytes: () => lengthPrefixed(rng.range(100, 1 << 20), rng.bytes(rng.range(0, 64))), keepOpen: true, waitHello: false },
    { name: 'wrong secret', bytes: (h) => auth(h, 'not-the-secret', rng.range(1, 5), false), keepOpen: true, waitHello: true },
    { name: 'mutated AUTH', bytes: (h) => auth(h, SECRET, rng.range(1, 5), true), keepOpen: rng.chance(0.5), waitHello: true },
    { name: 'random claimed id', bytes: (h) => auth(h, 'x', rng.next32(), false), keepOpen: false, waitHello: true },
    { name: 'WRITE before AUTH', bytes: () => writeFrame(rng.u64() > 0n ? 1 : 2, 'log', 0, rng.bytes(rng.range(0, 512))), keepOpen: true, waitHello: false },
    { name: 'silent', bytes: () => Buffer.alloc(0), keepOpen: true, waitHello: false },
  ];
}

describe('tcp fabric: a listener under garbage from many sockets', () => {
  const conns: RawConn[] = [];
  const children: FabricChild[] = [];

  afterEach(async () => {
    conns.splice(0).forEach((c) => c.destroy());
    await Promise.all(children.splice(0).map((c) => c.stop()));
  });

  test('drops every garbage connection, keeps serving a legitimate peer, memory stays bounded', async () => {
    const seed = seedFromEnv('FUZZ_SEED');
    const rng = new Rng(seed);
    const cluster = uniqueCluster('tcpgarbage');
    const nic = new FabricChild();
    children.push(nic);
    const { listenPort } = await nic.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0 } });
    await nic.must({ op: 'register', name: 'log', bytes: 4096 });
    await nic.must({ op: 'grant', region: 'log', peerId: 3 });
    const good = new FabricChild();
    children.push(good);
    await good.must({ op: 'open', options: { kind: 'tcp', selfId: 3, cluster, secret: SECRET, listenPort: 0 } });
    await good.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: listenPort });
    expect((await good.must({ op: 'waitConnected', peerId: 1 })).state).toBe('connected');
    const legitimateRoundTrip = async (value: number): Promise<void> => {
      const hex = value.toString(16).padStart(2, '0');
      const w = await good.must({ op: 'write', peerId: 1, region: 'log', offset: value, hex });
      if (!w.completion.ok) throw new Error(`legitimate write failed: ${JSON.stringify(w.completion)}`);
      const r = await good.must({ op: 'read', peerId: 1, region: 'log', offset: value, length: 1 });
      if (!r.completion.ok || r.hex !== hex) throw new Error(`legitimate read failed: ${JSON.stringify(r)}`);
    };
    await legitimateRoundTrip(1);
    const idleRss = procStatusBytes(nic.pid, 'VmRSS');

    const kinds = garbageKinds(rng, cluster);
    const counts = new Map<string, number>();
    try {
      for (let wave = 0; wave < WAVES; wave++) {
        const waveConns: Array<{ conn: RawConn; kind: string }> = [];
        await Promise.all(Array.from({ length: SOCKETS_PER_WAVE }, async (_, i) => {
          const kind = kinds[(wave * SOCKETS_PER_WAVE + i) % kinds.length];
          const conn = await RawConn.connect(listenPort);
          conns.push(conn);
          waveConns.push({ conn, kind: kind.name });
          counts.set(kind.name, (counts.get(kind.name) ?? 0) + 1);
          const hello = kind.waitHello ? await conn.nextFrame() : null;
          const bytes = kind.bytes(hello);
          if (bytes.length > 0) conn.send(bytes);
          if (!kind.keepOpen) conn.socket.end();
        }));
        // The legitimate peer is served while the garbage is still being dealt with.
        await legitimateRoundTrip(10 + wave);
        const notDropped: string[] = [];
        await Promise.all(waveConns.map(async ({ conn, kind }) => {
          if (!(await conn.waitClosed(DROP_WITHIN_MS))) notDropped.push(kind);
        }));
        if (notDropped.length > 0) throw new Error(`wave ${wave}: not dropped by the listener: ${notDropped.join(', ')}`);
        await legitimateRoundTrip(20 + wave);
      }
    } catch (e) {
      throw new Error(`seed ${seed} (replay with FUZZ_SEED=${seed}): ${(e as Error).message}`);
    }
    expect([...counts.keys()].sort()).toEqual(kinds.map((k) => k.name).sort());

    const peakGrowth = procStatusBytes(nic.pid, 'VmHWM') - idleRss;
    if (process.env.FUZZ_VERBOSE) console.log(`NIC idle RSS ${idleRss}, peak growth ${peakGrowth}`);
    if (peakGrowth > MAX_PEAK_GROWTH_BYTES) {
      throw new Error(`NIC peak RSS grew by ${(peakGrowth / 1048576).toFixed(1)} MiB under garbage (bound ${MAX_PEAK_GROWTH_BYTES / 1048576} MiB); seed ${seed}`);
    }
    // Nothing the garbage sent reached the region: only the legitimate writes are there.
    const region = await good.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 32 });
    const bytes = Buffer.from(region.hex, 'hex');
    for (let i = 0; i < 32; i++) {
      const expected = i === 1 || (i >= 10 && i < 10 + WAVES) || (i >= 20 && i < 20 + WAVES) ? i : 0;
      expect(bytes[i]).toBe(expected);
    }
    await nic.stop();
    expect(nic.proc.exitCode).toBe(0);
    expect(nic.stderr()).not.toMatch(/invariant violated/);
  }, 90_000);
});
