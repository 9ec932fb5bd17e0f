/**
 * Values at and above -I, and input without a newline, differentially against memcached 1.6.18:
 * the largest value memcached stores for a key is found by bisection on memcached itself; mucached
 * must store exactly that one and refuse one byte more with the same SERVER_ERROR, swallow the
 * value, drop the old item, and keep the connection usable; in the text and binary protocols.
 */
import * as net from 'net';
import { Opcode } from '../../protocol/binary/constants';
import { keyed, store } from '../binary/scenarios';
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';

jest.setTimeout(60_000);

/** Send `request`, read until `done` or the peer closes (bounded); returns what arrived. */
function talk(port: number, request: Buffer, done: (reply: Buffer) => boolean, timeoutMs = 10_000): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let finished = false;
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(parts), closed });
    };
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete reply from :${port} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      parts.push(d);
      if (done(Buffer.concat(parts))) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
  });
}

const lines = (n: number) => (r: Buffer) => (r.toString('latin1').match(/\r\n/g) ?? []).length >= n;
const setText = (key: string, bytes: number) => Buffer.concat([Buffer.from(`set ${key} 0 0 ${bytes}\r\n`), Buffer.alloc(bytes, 0x61), Buffer.from('\r\n')]);

async function storesText(port: number, key: string, bytes: number): Promise<boolean> {
  const { reply } = await talk(port, setText(key, bytes), lines(1));
  return reply.toString() === 'STORED\r\n';
}

/** The largest value memcached stores under `key` (bisection; it stores 1 byte, not 2x -I). */
async function largestStored(port: number, key: string, itemMaxBytes: number): Promise<number> {
  let lo = 1;
  let hi = itemMaxBytes + 1;
  for (let step = 0; step < 40 && hi - lo > 1; step++) {
    const mid = Math.floor((lo + hi) / 2);
    if (await storesText(port, key, mid)) lo = mid; else hi = mid;
  }
  return lo;
}

/** The text transcript around the limit: store at L, read, store L+1 (refused), read, still usable. */
async function textTranscript(port: number, key: string, limit: number): Promise<string> {
  const request = Buffer.concat([
    setText(key, limit), Buffer.from(`get ${key}\r\n`), setText(key, limit + 1), Buffer.from(`get ${key}\r\nversion\r\n`),
  ]);
  const { reply } = await talk(port, request, (r) => r.toString('latin1').includes('VERSION '));
  // The version string differs by design; the value is summarised by its length.
  return reply.toString('latin1').replace(/VERSION .*\r\n/, 'VERSION\r\n').replace(/a{100,}/g, (m) => `<${m.length} bytes>`);
}

/** Binary status codes around the limit: SET L, SET L+1, GET, NOOP. */
async function binaryStatuses(port: number, key: string, limit: number): Promise<number[]> {
  const request = Buffer.concat([
    store(Opcode.SET, key, Buffer.alloc(limit, 0x62)), store(Opcode.SET, key, Buffer.alloc(limit + 1, 0x62)), keyed(Opcode.GET, key), keyed(Opcode.NOOP, ''),
  ]);
  const { reply } = await talk(port, request, (r) => packets(r).some((p) => p.opcode === Opcode.NOOP));
  return packets(reply).map((p) => p.status);
}

function packets(bytes: Buffer): Array<{ opcode: number; status: number }> {
  const out = [];
  for (let pos = 0; pos + 24 <= bytes.length;) {
    const total = 24 + bytes.readUInt32BE(pos + 8);
    if (pos + total > bytes.length) break;
    out.push({ opcode: bytes[pos + 1], status: bytes.readUInt16BE(pos + 6) });
    pos += total;
  }
  return out;
}

// memcached refuses -I below its slab_chunk_max (512k) unless that is lowered too.
describe.each([['1m', 1024 * 1024], ['2m', 2 * 1024 * 1024]])('-I %s', (itemMax, itemMaxBytes) => {
  let memcached: RunningServer;
  let mucached: RunningServer;
  beforeAll(async () => {
    memcached = await startMemcached(['-m', '64', '-I', itemMax]);
    mucached = await startMucached(['-m', '64', '-I', itemMax]);
  });
  afterAll(async () => {
    await Promise.all([memcached?.stop(), mucached?.stop()]);
  });

  test('the largest value stored is memcached\'s, for short and long keys, text and binary', async () => {
    for (const key of ['k', 'x'.repeat(250)]) {
      const limit = await largestStored(memcached.port, key, itemMaxBytes);
      expect(limit).toBeGreaterThan(itemMaxBytes - 1024);
      expect({ key: key.length, storesLimit: await storesText(mucached.port, key, limit), storesOneMore: await storesText(mucached.port, key, limit + 1) })
        .toEqual({ key: key.length, storesLimit: true, storesOneMore: false });
      const [theirs, ours] = await Promise.all([textTranscript(memcached.port, key, limit), textTranscript(mucached.port, key, limit)]);
      expect(theirs).toContain('SERVER_ERROR object too large for cache');
      expect(ours).toBe(theirs);
      const [theirStatuses, ourStatuses] = await Promise.all([binaryStatuses(memcached.port, key, limit), binaryStatuses(mucached.port, key, limit)]);
      expect(ourStatuses).toEqual(theirStatuses);
    }
  });
});

describe('input without a newline', () => {
  let memcached: RunningServer;
  let mucached: RunningServer;
  beforeAll(async () => {
    memcached = await startMemcached();
    mucached = await startMucached();
  });
  afterAll(async () => {
    await Promise.all([memcached?.stop(), mucached?.stop()]);
  });

  test('garbage past 2048 bytes without a newline closes the connection, as memcached does', async () => {
    for (const server of [memcached, mucached]) {
      const { closed, reply } = await talk(server.port, Buffer.alloc(8192, 0x7a), () => false);
      expect({ port: server.port, closed, reply: reply.toString() }).toEqual({ port: server.port, closed: true, reply: '' });
    }
  });

  test('a long multi-get line is read up to 4 MiB; past that the daemon closes instead of buffering', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => `key-${i}`).join(' ');
    const { reply } = await talk(mucached.port, Buffer.from(`get ${keys}\r\n`), (r) => r.toString().endsWith('END\r\n'));
    expect(reply.toString()).toBe('END\r\n');
    const huge = Buffer.concat([Buffer.from('get '), Buffer.alloc(5 * 1024 * 1024, 0x6b)]);
    const { closed } = await talk(mucached.port, huge, () => false);
    expect(closed).toBe(true);
  });
});
