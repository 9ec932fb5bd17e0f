/**
 * The daemon under real binary clients: memccapable's binary suite, and seeded random garbage on
 * many connections, after which the daemon still answers. Needs dist/ (build first).
 */
import { spawn } from 'child_process';
import { Opcode } from '../../protocol/binary/constants';
import { RunningServer, startMucached } from '../helpers/procs';
import { RawClient, splitPackets } from './raw-client';
import { noop, req, store } from './scenarios';

let daemon: RunningServer;

beforeAll(async () => {
  daemon = await startMucached();
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

function runTool(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

/** mulberry32: seeded, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

async function answersNoop(port: number): Promise<boolean> {
  const client = await RawClient.connect(port);
  try {
    client.send(noop(42));
    const { bytes } = await client.take((b) => splitPackets(b).packets.length > 0, 5000);
    const [packet] = splitPackets(bytes).packets;
    return packet?.opcode === Opcode.NOOP && packet.opaque === 42;
  } finally {
    client.close();
  }
}

describe('binary protocol on the daemon', () => {
  test('memccapable -b: every binary test passes', async () => {
    const { code, output } = await runTool('memccapable', ['-h', '127.0.0.1', '-p', String(daemon.port), '-b', '-t', '5'], 50_000);
    expect(output).toContain('All tests passed');
    expect(code).toBe(0);
  }, 60_000);

  test('seeded garbage on many connections never takes the daemon down', async () => {
    const seed = Date.now() % 1_000_000;
    const random = rng(seed);
    const byte = () => Math.floor(random() * 256);
    try {
      for (let conn = 0; conn < 40; conn++) {
        const client = await RawClient.connect(daemon.port);
        const parts: Buffer[] = [];
        for (let i = 0; i < 8; i++) {
          const shape = random();
          if (shape < 0.3) parts.push(req({ opcode: byte(), key: Buffer.alloc(byte() % 20, byte()), extras: Buffer.alloc(byte() % 24, byte()), value: Buffer.alloc(byte(), byte()) }));
          else if (shape < 0.5) parts.push(req({ opcode: byte(), bodyBytes: Math.floor(random() * 2 ** 32), extras: Buffer.alloc(byte() % 9), key: Buffer.alloc(byte() % 9, 97) }));
          else if (shape < 0.7) parts.push(store(Opcode.SET, `k${byte()}`, Buffer.alloc(byte() * 16, byte())));
          else parts.push(Buffer.from(Array.from({ length: byte() }, byte)));
        }
        // Always binary: the first byte picks the protocol.
        client.send(Buffer.concat([Buffer.from([0x80]), ...parts]));
        await client.take(() => false, 20);
        client.close();
      }
      expect(await answersNoop(daemon.port)).toBe(true);
      expect(daemon.proc.exitCode).toBeNull();
      expect(daemon.output()).not.toMatch(/internal error/);
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`);
    }
  }, 30_000);

  test('an unknown opcode with an 8 MB body: the body is swallowed as it streams, then the connection works', async () => {
    const client = await RawClient.connect(daemon.port);
    try {
      const swallowBytes = 8 * 1024 * 1024;
      client.send(req({ opcode: 0x70, bodyBytes: swallowBytes, opaque: 1 }));
      const chunk = Buffer.alloc(256 * 1024, 0x80);
      for (let sent = 0; sent < swallowBytes; sent += chunk.length) client.send(chunk);
      client.send(noop(2));
      const { bytes } = await client.take((b) => splitPackets(b).packets.length >= 2, 10_000);
      expect(splitPackets(bytes).packets.map((p) => [p.opcode, p.status, p.opaque])).toEqual([[0x70, 0x81, 1], [Opcode.NOOP, 0, 2]]);
    } finally {
      client.close();
    }
  }, 30_000);
});
