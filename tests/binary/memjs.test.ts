/**
 * memjs, a real binary-protocol client, gets the same results from us as from memcached 1.6.18
 * for the same script of operations (pipelined on one connection, as memjs sends them).
 *
 * Target: the daemon from dist/ (build first); BINARY_DIFF_TARGET=inproc uses the in-process server.
 */
import { createHash } from 'crypto';
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';
import { startInprocBinaryServer } from './inproc-server';

import { memjs, MemjsClient } from '../helpers/memjs';

let memcached: RunningServer;
let ours: { port: number; stop(): Promise<void> };

beforeAll(async () => {
  memcached = await startMemcached();
  ours = process.env.BINARY_DIFF_TARGET === 'inproc' ? await startInprocBinaryServer() : await startMucached();
}, 30_000);

afterAll(async () => {
  await memcached?.stop();
  await ours?.stop();
});

function client(port: number): MemjsClient {
  return memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 5, logger: { log: () => undefined } });
}

/** Outcome of one call as comparable data: the result, or the error message. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    const result = await call();
    return JSON.parse(JSON.stringify(result, (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v)));
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function script(c: MemjsClient): Promise<unknown[]> {
  const binary = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
  const large = Buffer.alloc(900 * 1024, 'abcdefgh');
  const log: unknown[] = [];
  const steps: Array<() => Promise<unknown>> = [
    () => c.set('k', 'v1'), () => c.get('k'), () => c.add('k', 'v2'), () => c.add('k2', 'v2'), () => c.replace('nope', 'x'),
    () => c.replace('k2', 'v3'), () => c.get('k2'), () => c.delete('k2'), () => c.delete('k2'), () => c.get('k2'),
    () => c.increment('n', 5, { initial: 10 }), () => c.increment('n', 5), () => c.decrement('n', 100, {}), () => c.get('n'),
    () => c.increment('k', 1), () => c.append('k', '>>'), () => c.prepend('k', '<<'), () => c.get('k'),
    () => c.append('nope', 'x'), () => c.touch('k', 100), () => c.touch('nope', 100),
    () => c.set('bin', binary), () => c.get('bin'),
    async () => { await c.set('large', large); const got = await c.get('large'); return createHash('sha1').update(got.value ?? '').digest('hex'); },
    () => c.set('huge', Buffer.alloc(2 * 1024 * 1024)), () => c.get('k'),
    () => c.set('exp', 'x', { expires: 31 * 24 * 3600 }), () => c.get('exp'),
    () => c.flush(), () => c.get('k'),
  ];
  for (const step of steps) log.push(await outcome(step));
  return log;
}

describe('memjs gets memcached\'s results', () => {
  test('a script of every operation memjs has', async () => {
    const theirs = client(memcached.port);
    const mine = client(ours.port);
    try {
      const expected = await script(theirs);
      const got = await script(mine);
      if (process.env.BINARY_DIFF_DUMP) console.log(JSON.stringify(expected));
      // flush reports per-server keys ("127.0.0.1:PORT"): compare the values only.
      const normalize = (log: unknown[]) => log.map((r) => (r && typeof r === 'object' && !Array.isArray(r) && Object.keys(r)[0]?.startsWith('127.0.0.1:') ? Object.values(r) : r));
      expect(normalize(got)).toEqual(normalize(expected));
    } finally {
      theirs.close();
      mine.close();
    }
  }, 30_000);

  test('many pipelined requests on one connection all get their own answers', async () => {
    const c = client(ours.port);
    try {
      const keys = Array.from({ length: 300 }, (_v, i) => `pipe-${i}`);
      const stored = await Promise.all(keys.map((k, i) => c.set(k, `value-${i}-${'x'.repeat(i * 7)}`)));
      expect(stored.every((s) => s === true)).toBe(true);
      const values = await Promise.all(keys.map((k) => c.get(k)));
      expect(values.map((v) => v.value?.toString())).toEqual(keys.map((_k, i) => `value-${i}-${'x'.repeat(i * 7)}`));
    } finally {
      c.close();
    }
  }, 30_000);

  test('stats through memjs: memcached\'s counters, parsed by the client', async () => {
    const c = client(ours.port);
    try {
      const stats = await new Promise<Record<string, string>>((resolve, reject) => {
        c.stats((err, _server, s) => (err || !s ? reject(err ?? new Error('no stats')) : resolve(s)));
      });
      for (const name of ['pid', 'uptime', 'version', 'curr_items', 'cmd_get', 'cmd_set', 'get_hits', 'get_misses']) {
        expect(stats[name]).toMatch(/\S/);
      }
      expect(Number(stats.cmd_set)).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  }, 30_000);
});
