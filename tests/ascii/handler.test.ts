import fc from 'fast-check';
import type { CacheEngine, WriteOp, WriteResultFor } from '../../daemon/cache/types';
import { createAsciiHandler } from '../../daemon/handlers/ascii';
import { Rng } from '../helpers/rng';
import { makeContext, RecordingSink } from '../helpers/handler-context';

function session(wrap?: Parameters<typeof makeContext>[0]) {
  const { ctx, verbosity } = makeContext(wrap);
  const sink = new RecordingSink();
  const handler = createAsciiHandler(ctx, sink);
  const send = (s: string) => handler.onData(Buffer.from(s, 'latin1'));
  return { ctx, sink, handler, send, verbosity };
}

describe('ASCII handler (in process)', () => {
  test('counters follow memcached 1.6.18', async () => {
    const { ctx, send, sink } = session();
    // Expected values observed on memcached 1.6.18 for this exact sequence.
    send('set a 0 0 1\r\n1\r\nget a a b\r\ngets a\r\ncas a 0 0 1 1\r\nx\r\ncas zz 0 0 1 1\r\nx\r\nincr a 1\r\ntouch a 0\r\ngat 0 a b\r\n');
    send('ms mm 1\r\n5\r\nmg mm v\r\nmg nomm v\r\nmg mm T10\r\nmg nomm T10\r\nma mm\r\nma nomm\r\nmd nomm\r\nmd mm C1\r\nme mm\r\nmd mm\r\n');
    send('set b 0 0 2000000\r\n' + 'x'.repeat(2_000_000) + '\r\ndecr zz 1\r\ndelete a\r\nflush_all\r\n');
    await sink.text();
    expect(ctx.counters).toMatchObject({
      cmd_get: 7, cmd_set: 4, cmd_touch: 4, cmd_meta: 1, cmd_flush: 1, get_hits: 4, get_misses: 3,
      cas_misses: 1, cas_hits: 1, cas_badval: 0, incr_hits: 1, incr_misses: 1, decr_misses: 1, decr_hits: 0,
      touch_hits: 3, touch_misses: 1, delete_hits: 2, delete_misses: 2, store_too_large: 1,
    });
  });

  test('memcached commands for what mucached does not have say so', async () => {
    const { send, sink } = session();
    send('slabs automove 1\r\nslabs reassign 1 2\r\nlru mode flat\r\nextstore free_memchunks 0 0\r\nnosuchcommand\r\n');
    expect((await sink.text()).split('\r\n')).toEqual([
      'ERROR slabs automove is not supported: items are allocated one by one, there are no slab pages to move',
      'ERROR slabs reassign is not supported: items are allocated one by one, there are no slab pages to move',
      'ERROR lru is not supported: the LRU is one list (lru_segmented no), there are no segments to tune',
      'ERROR extstore is not supported: items are kept in memory only',
      'ERROR',
      '',
    ]);
  });

  test('stats formats the context pairs; reset and verbosity reach the context', async () => {
    const { send, sink, verbosity, ctx } = session();
    send('get x\r\nstats\r\nstats reset\r\nverbosity 5\r\nverbosity 1 noreply\r\nstats settings\r\n');
    const text = await sink.text();
    expect(text).toMatch(/^END\r\nSTAT pid \d+\r\n(STAT \S+ [^\r\n]*\r\n)+END\r\nRESET\r\nOK\r\n(STAT \S+ [^\r\n]*\r\n)+END\r\n$/);
    expect(text).toContain('STAT get_misses 1\r\n');
    expect(ctx.counters.get_misses).toBe(0);
    expect(verbosity).toEqual([2, 1]);
  });

  test('replies keep command order when the engine settles later, in any order', async () => {
    const rng = new Rng(Number(process.env.SEED ?? Date.now() % 2 ** 31));
    const delayed = (engine: CacheEngine): CacheEngine => ({
      get: (key, bump) => engine.get(key, bump),
      peek: (key) => engine.peek(key),
      maxValueBytes: (k, f) => engine.maxValueBytes(k, f),
      setMemoryLimit: (bytes) => engine.setMemoryLimit(bytes),
      mutate: <O extends WriteOp>(op: O) => {
        const result = engine.mutate(op);
        return new Promise<WriteResultFor<O>>((resolve) => setTimeout(() => resolve(result), rng.next32() % 5));
      },
    });
    const script = 'set a 0 0 1\r\n1\r\nincr a 5\r\nget a\r\nms b 2 c\r\nhi\r\nmg b v\r\nmd b q\r\ndelete a noreply\r\ngat 0 a b\r\nmn\r\n';
    const sync = session();
    sync.send(script);
    const async = session(delayed);
    async.send(script);
    const want = await sync.sink.text();
    expect(want).toBe('STORED\r\n6\r\nVALUE a 0 1\r\n6\r\nEND\r\nHD c3\r\nVA 2\r\nhi\r\nEND\r\nMN\r\n');
    expect(await async.sink.text()).toBe(want);
  });

  test('an engine failure becomes a SERVER_ERROR reply, not a throw', async () => {
    const failing = (engine: CacheEngine): CacheEngine => ({
      get: (key, bump) => engine.get(key, bump),
      peek: (key) => engine.peek(key),
      maxValueBytes: (k, f) => engine.maxValueBytes(k, f),
      setMemoryLimit: (bytes) => engine.setMemoryLimit(bytes),
      mutate: () => Promise.reject(new Error('leadership lost')),
    });
    const { send, sink } = session(failing);
    send('set a 0 0 1\r\n1\r\ndelete a\r\nmn\r\n');
    expect(await sink.text()).toBe('SERVER_ERROR leadership lost\r\nSERVER_ERROR leadership lost\r\nMN\r\n');
  });

  test('quit and fatal input close after queued replies; nothing is queued afterwards', async () => {
    const { send, sink } = session();
    send('mn\r\nquit\r\nmn\r\n');
    send('mn\r\n');
    expect(sink.closeReason).toBe('quit');
    expect(sink.lateReplies).toBe(0);
    expect(await sink.text()).toBe('MN\r\n');
  });

  test('random input never throws, and never replies after closing', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        fc.constantFrom('set a 0 0 1\r\n', 'x\r\n', 'get a\r\n', 'mg a v\r\n', 'ms a 2\r\n', 'incr a 1\r\n', 'ma a N0\r\n', '\r\n')
          .map((s) => Buffer.from(s)),
      ), { maxLength: 30 }), (chunks) => {
        const { handler, sink } = session();
        for (const c of chunks) handler.onData(c);
        expect(sink.lateReplies).toBe(0);
        expect(handler.bufferedBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
      }),
      { numRuns: 200, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
  });
});
