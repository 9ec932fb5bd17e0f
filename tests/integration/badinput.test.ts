/**
 * Bad input: the daemon answers with memcached's errors or closes that one connection, stays up,
 * and a client connected beforehand keeps working throughout. Where the outcome is deterministic,
 * mucached's bytes are compared with real memcached's.
 */
import * as net from 'net';
import type { RunningServer } from '../helpers/procs';
import { escapeBytes } from '../helpers/escape';
import { Rng, seedFromEnv } from '../helpers/rng';
import { startReference, startSubject } from '../helpers/target';
import { WireConn } from '../helpers/wireConn';

jest.setTimeout(90_000);

const MAX_CONNS = 100;

/** Send bytes on a fresh connection; collect replies until close or quietMs of silence. */
async function exchange(port: number, bytes: Buffer, waitMs = 400): Promise<{ reply: Buffer; closed: boolean }> {
  const c = await WireConn.open(port);
  await c.write([bytes]);
  const r = await c.readUntil(() => false, waitMs);
  c.destroy();
  return { reply: r.bytes, closed: r.closed };
}

/** The long-lived client: a set/get round trip that must keep working. */
async function healthy(conn: WireConn, tag: string): Promise<void> {
  const v = `alive-${tag}`;
  await conn.write([Buffer.from(`set watchdog 0 0 ${v.length}\r\n${v}\r\nget watchdog\r\n`)]);
  const want = `STORED\r\nVALUE watchdog 0 ${v.length}\r\n${v}\r\nEND\r\n`;
  const r = await conn.readUntil((b) => b.length >= want.length, 5000);
  const got = conn.take(r.bytes.length).toString('latin1');
  if (got !== want) throw new Error(`watchdog client broken after ${tag}: got ${escapeBytes(Buffer.from(got, 'latin1'))}`);
}

describe('bad input', () => {
  let subject: RunningServer;
  let reference: RunningServer;
  let watchdog: WireConn;

  beforeAll(async () => {
    subject = await startSubject(['-c', String(MAX_CONNS)]);
    reference = await startReference(['-c', String(MAX_CONNS)]);
    watchdog = await WireConn.open(subject.port);
    await healthy(watchdog, 'start');
  });

  afterAll(async () => {
    watchdog?.destroy();
    await subject?.stop();
    await reference?.stop();
  });

  afterEach(() => {
    expect(subject.proc.exitCode).toBeNull();
    expect(subject.proc.signalCode).toBeNull();
  });

  test('seeded random bytes on 60 connections', async () => {
    const seed = seedFromEnv('BADINPUT_SEED');
    const rng = new Rng(seed);
    for (let i = 0; i < 60; i++) {
      const first = rng.pick([0x80, 0x67, 0x6d, rng.int(256)]); // binary magic, 'g', 'm' or anything
      const junk = Buffer.concat([Buffer.from([first]), rng.bytes(rng.range(1, 4096))]);
      const r = await exchange(subject.port, junk, 150);
      const text = r.reply.toString('latin1');
      // Whatever it says must be a memcached-style reply: no stack traces or JS errors.
      if (/Error:|at .*\.js|undefined|NaN/.test(text)) throw new Error(`seed ${seed} conn ${i}: odd reply ${escapeBytes(r.reply)}`);
      if (subject.proc.exitCode !== null) throw new Error(`daemon died on random input, seed ${seed}, conn ${i}: ${escapeBytes(junk, 200)}`);
    }
    await healthy(watchdog, `random bytes (seed ${seed})`);
  });

  test('a line over 2 KiB without newline: error or close, like memcached', async () => {
    const line = Buffer.from('x'.repeat(4096));
    const ref = await exchange(reference.port, line, 800);
    const sub = await exchange(subject.port, line, 800);
    const subText = sub.reply.toString('latin1');
    expect(sub.closed || /^(CLIENT_ERROR|SERVER_ERROR|ERROR)/.test(subText)).toBe(true);
    if (ref.closed) expect(sub.closed).toBe(true);
    await healthy(watchdog, 'long line');
  });

  test('a get line over 2 KiB is a legitimate multiget (memcached serves it)', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `multiget-key-${i}`).join(' ');
    const req = Buffer.from(`get ${keys}\r\n`);
    const ref = await exchange(reference.port, req);
    const sub = await exchange(subject.port, req);
    expect(escapeBytes(sub.reply)).toBe(escapeBytes(ref.reply));
  });

  test('values longer than announced: same replies as memcached', async () => {
    const cases = [
      'set over 0 0 5\r\nabcdefghij\r\nget over\r\n',
      'set over 0 0 1\r\nxyz\r\nmn\r\n',
      'ms over 3\r\nabcdef\r\nmn\r\n',
      'set over 0 0 0\r\nx\r\nmn\r\n',
    ];
    for (const c of cases) {
      const ref = await exchange(reference.port, Buffer.from(c));
      const sub = await exchange(subject.port, Buffer.from(c));
      if (!ref.reply.equals(sub.reply) || ref.closed !== sub.closed) {
        throw new Error(`sent ${escapeBytes(Buffer.from(c))}\nmemcached: ${escapeBytes(ref.reply)}${ref.closed ? ' (closed)' : ''}\n` +
          `mucached: ${escapeBytes(sub.reply)}${sub.closed ? ' (closed)' : ''}`);
      }
    }
    await healthy(watchdog, 'oversized values');
  });

  test('a client that disconnects mid-value stores nothing', async () => {
    for (const [port, who] of [[subject.port, 'mucached'], [reference.port, 'memcached']] as const) {
      const c = await WireConn.open(port);
      await c.write([Buffer.from('set half 0 0 100\r\nabc')]);
      await new Promise((r) => setTimeout(r, 50));
      c.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const r = await exchange(port, Buffer.from('get half\r\n'));
      expect(`${who}: ${r.reply.toString('latin1')}`).toBe(`${who}: END\r\n`);
    }
    await healthy(watchdog, 'mid-value disconnect');
  });

  test(`10,000 connection attempts against -c ${MAX_CONNS}`, async () => {
    const deadline = Date.now() + 45_000;
    const attempts = 10_000;
    const wave = 200;
    let connected = 0;
    let refused = 0;
    for (let done = 0; done < attempts && Date.now() < deadline; done += wave) {
      const results = await Promise.all(Array.from({ length: Math.min(wave, attempts - done) }, () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(subject.port, '127.0.0.1');
          const timer = setTimeout(() => { s.destroy(); resolve(false); }, 2000);
          s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
          s.once('error', () => { clearTimeout(timer); resolve(false); });
        })));
      connected += results.filter(Boolean).length;
      refused += results.length - results.filter(Boolean).length;
      if (subject.proc.exitCode !== null) throw new Error(`daemon exited after ${done} attempts`);
    }
    expect(connected + refused).toBe(attempts);
    await healthy(watchdog, 'connection storm');
    // Hold more than -c connections at once: the daemon must stay up and recover once they close.
    const held: net.Socket[] = [];
    for (let i = 0; i < MAX_CONNS + 50; i++) {
      const s = net.connect(subject.port, '127.0.0.1');
      s.on('error', () => undefined);
      held.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 500));
    await healthy(watchdog, 'over -c');
    const fresh = await exchange(subject.port, Buffer.from('version\r\n'));
    expect(fresh.reply.toString('latin1')).toMatch(/^VERSION /);
  });
});
