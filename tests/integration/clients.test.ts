/**
 * Round trips through real clients: memjs (binary protocol), pymemcache (text protocol, via
 * /usr/bin/python3 and pymemcache_roundtrip.py), and a raw socket sending many commands in one
 * write. memjs mis-sends prepend as append and misreads 64-bit incr results, so those are covered
 * by pymemcache and the differential test instead.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const memjs = require('memjs');
import type { RunningServer } from '../helpers/procs';
import { escapeBytes } from '../helpers/escape';
import { parseTextFrames, textEndsWith } from '../helpers/replyFrames';
import { startSubject } from '../helpers/target';
import { WireConn } from '../helpers/wireConn';

jest.setTimeout(60_000);

describe('real clients against mucached', () => {
  let server: RunningServer;
  beforeAll(async () => { server = await startSubject(); });
  afterAll(async () => { await server?.stop(); });

  test('memjs (binary protocol)', async () => {
    const quietLogger = { log: () => undefined };
    const client = memjs.Client.create(`127.0.0.1:${server.port}`, { retries: 0, timeout: 2, logger: quietLogger });
    try {
      expect(await client.set('mj:a', 'hello', { expires: 0 })).toBe(true);
      const got = await client.get('mj:a');
      expect(got.value.toString()).toBe('hello');
      expect((await client.get('mj:missing')).value).toBeNull();
      expect(await client.add('mj:a', 'x', {})).toBe(false);
      expect(await client.add('mj:b', '5', {})).toBe(true);
      expect(await client.replace('mj:b', '7', {})).toBe(true);
      expect(await client.replace('mj:none', '7', {})).toBe(false);
      expect(await client.append('mj:a', ' world')).toBe(true);
      expect((await client.get('mj:a')).value.toString()).toBe('hello world');
      const inc = await client.increment('mj:b', 3, {});
      expect(inc.success).toBe(true);
      expect(inc.value).toBe(10);
      const dec = await client.decrement('mj:b', 100, {});
      expect(dec.value).toBe(0);
      const created = await client.increment('mj:counter', 1, { initial: 42, expires: 0 });
      expect(created.value).toBe(42);
      expect(await client.touch('mj:a', 1000)).toBe(true);
      const big = Buffer.alloc(500_000, 0xab);
      expect(await client.set('mj:big', big, {})).toBe(true);
      expect((await client.get('mj:big')).value.equals(big)).toBe(true);
      expect(await client.delete('mj:a')).toBe(true);
      expect(await client.delete('mj:a')).toBe(false);
      const stats: Record<string, Record<string, string>> = await new Promise((resolve, reject) => {
        const all: Record<string, Record<string, string>> = {};
        client.stats((err: Error | null, server: string, s: Record<string, string>) => {
          if (err) reject(err); else { all[server] = s; resolve(all); }
        });
      });
      expect(Object.values(stats)[0]).toHaveProperty('curr_items');
      await client.flush();
      expect((await client.get('mj:b')).value).toBeNull();
    } finally {
      client.close();
    }
  });

  test('pymemcache (text protocol)', () => {
    const script = path.join(__dirname, 'pymemcache_roundtrip.py');
    const r = spawnSync('/usr/bin/python3', [script, String(server.port)], { timeout: 30_000, encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run /usr/bin/python3: ${r.error.message} (apt-get install -y python3-pymemcache)`);
    if (r.status !== 0) throw new Error(`pymemcache round trips failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
    expect(r.stdout).not.toMatch(/FAIL/);
    expect(r.stdout.match(/^ok /gm)?.length).toBeGreaterThanOrEqual(29);
  });

  test('raw pipelined socket: 500 commands in one write, replies in order', async () => {
    const conn = await WireConn.open(server.port);
    try {
      const parts: string[] = [];
      const expected: string[] = [];
      for (let i = 0; i < 100; i++) {
        const v = `v${i}`.repeat(i % 7);
        parts.push(`set pipe:${i} ${i} 0 ${v.length}\r\n${v}\r\n`, `get pipe:${i}\r\n`, `incr pipe:n 1\r\n`,
          `delete pipe:${i}\r\n`, `mg pipe:${i} v\r\n`);
        expected.push('STORED\r\n', `VALUE pipe:${i} ${i} ${v.length}\r\n${v}\r\nEND\r\n`,
          i === 0 ? 'NOT_FOUND\r\n' : `${i}\r\n`, 'DELETED\r\n', 'EN\r\n');
        if (i === 0) { parts.push('set pipe:n 0 0 1\r\n0\r\n'); expected.push('STORED\r\n'); }
      }
      parts.push('mn\r\n');
      expected.push('MN\r\n');
      await conn.write([Buffer.from(parts.join(''))]);
      const r = await conn.readUntil((b) => textEndsWith(b, 'MN\r\n'), 10_000);
      const want = expected.join('');
      if (r.bytes.toString('latin1') !== want) {
        const got = r.bytes.toString('latin1');
        let at = 0;
        while (at < got.length && got[at] === want[at]) at++;
        throw new Error(`pipelined replies differ at byte ${at}:\n got: ${escapeBytes(Buffer.from(got.slice(at, at + 200), 'latin1'))}\n want: ${escapeBytes(Buffer.from(want.slice(at, at + 200), 'latin1'))}`);
      }
      expect(parseTextFrames(r.bytes).frames.length).toBeGreaterThan(400);
    } finally {
      conn.destroy();
    }
  });
});
