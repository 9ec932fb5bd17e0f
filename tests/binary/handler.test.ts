/**
 * The binary handler without sockets: reply order with an engine whose writes settle later (as the
 * replicated engine's will), quiet requests, closing, counters, and arbitrary input never throwing.
 */
import fc from 'fast-check';
import type { CacheEngine, WriteOp, WriteResultFor } from '../../daemon/cache/types';
import { createBinaryHandler } from '../../daemon/handlers/binary';
import { Opcode } from '../../protocol/binary/constants';
import { splitPackets } from './raw-client';
import { arith, keyed, noop, req, store, touch } from './scenarios';
import { ITEM_SIZE_MAX_BYTES, makeContext, RecordingSink } from '../helpers/handler-context';

/** A deterministic PRNG (mulberry32) so a failing run can be replayed from its seed. */
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

/** Each write settles after a random number of macrotask turns; writes still apply in order. */
function deferredEngine(local: CacheEngine, random: () => number): CacheEngine {
  let chain: Promise<unknown> = Promise.resolve();
  return {
    get: (key, bump) => local.get(key, bump),
    peek: (key) => local.peek(key),
    maxValueBytes: (k, f) => local.maxValueBytes(k, f),
    setMemoryLimit: (bytes) => local.setMemoryLimit(bytes),
    mutate<O extends WriteOp>(op: O): Promise<WriteResultFor<O>> {
      const turns = Math.floor(random() * 3);
      const result = chain.then(async () => {
        for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
        return local.mutate(op) as WriteResultFor<O>;
      });
      chain = result;
      return result;
    },
  };
}

const stream = Buffer.concat([
  store(Opcode.SET, 'a', 'hello', { flags: 3, opaque: 1 }), store(Opcode.SETQ, 'b', 'quiet'), keyed(Opcode.GETQ, 'b', { opaque: 2 }),
  store(Opcode.ADDQ, 'a', 'x', { opaque: 3 }), arith(Opcode.INCREMENT, 'n', 2n, 7n, 0), arith(Opcode.INCREMENTQ, 'n', 2n, 7n, 0),
  keyed(Opcode.GETK, 'n'), keyed(Opcode.APPENDQ, 'a', { value: Buffer.from('!') }), touch(Opcode.GAT, 'a', 100, 4),
  keyed(Opcode.DELETEQ, 'b'), keyed(Opcode.GET, 'b', { opaque: 5 }), req({ opcode: Opcode.FLUSHQ }), keyed(Opcode.GET, 'a'),
  noop(6),
]);

async function replies(engine: 'sync' | 'deferred', seed: number, chunkBytes: number): Promise<Buffer> {
  const { ctx } = makeContext(engine === 'sync' ? undefined : (local) => deferredEngine(local, rng(seed)));
  const sink = new RecordingSink();
  const handler = createBinaryHandler(ctx, sink);
  for (let at = 0; at < stream.length; at += chunkBytes) handler.onData(stream.subarray(at, at + chunkBytes));
  return sink.settled();
}

describe('binary handler', () => {
  test('replies keep request order when writes settle later, for any chunking', async () => {
    const expected = await replies('sync', 0, stream.length);
    expect(splitPackets(expected).packets.map((p) => p.opcode)).toEqual([
      Opcode.SET, Opcode.GETQ, Opcode.ADDQ, Opcode.INCREMENT, Opcode.GETK, Opcode.GAT, Opcode.GET, Opcode.GET, Opcode.NOOP,
    ]);
    const seed = Date.now() % 100000;
    const random = rng(seed);
    for (let run = 0; run < 20; run++) {
      const chunkBytes = 1 + Math.floor(random() * 60);
      const got = await replies('deferred', seed + run, chunkBytes);
      if (!got.equals(expected)) throw new Error(`replies differ (seed ${seed + run}, chunk ${chunkBytes} bytes)`);
    }
  });

  test('quiet successes queue an empty reply, so a later noop cannot overtake them', () => {
    const { ctx } = makeContext();
    const sink = new RecordingSink();
    createBinaryHandler(ctx, sink).onData(Buffer.concat([store(Opcode.SETQ, 'k', 'v'), keyed(Opcode.DELETEQ, 'k'), noop()]));
    expect(sink.queued.map((r) => (r as Buffer).length)).toEqual([0, 0, 24]);
  });

  test('quit: reply, close, and nothing after it is executed', () => {
    const { ctx, local } = makeContext();
    const sink = new RecordingSink();
    createBinaryHandler(ctx, sink).onData(Buffer.concat([req({ opcode: Opcode.QUIT, opaque: 9 }), store(Opcode.SET, 'after', 'v')]));
    expect(sink.closeReason).toBe('quit');
    expect(sink.queued).toHaveLength(1);
    expect(local.get(Buffer.from('after'))).toBeUndefined();
  });

  test('counters follow memcached\'s binary accounting', () => {
    const { ctx } = makeContext();
    const sink = new RecordingSink();
    createBinaryHandler(ctx, sink).onData(Buffer.concat([
      store(Opcode.SET, 'a', '1'), keyed(Opcode.GET, 'a'), keyed(Opcode.GETKQ, 'nope'), touch(Opcode.GAT, 'a', 10),
      touch(Opcode.TOUCH, 'nope', 10), arith(Opcode.INCREMENT, 'a', 1n, 0n, 0), arith(Opcode.DECREMENT, 'c', 1n, 5n, 0),
      arith(Opcode.DECREMENT, 'd', 1n, 5n, 0xffffffff), store(Opcode.SET, 'a', 'x', { cas: 999n }),
      store(Opcode.SET, 'zz', 'x', { cas: 1n }), keyed(Opcode.DELETE, 'a'), keyed(Opcode.DELETE, 'a'),
      store(Opcode.SET, 'big', Buffer.alloc(2 * 1024 * 1024)), req({ opcode: Opcode.FLUSH }),
    ]));
    expect(ctx.counters).toMatchObject({
      cmd_get: 2, get_hits: 1, get_misses: 1, cmd_touch: 2, touch_hits: 1, touch_misses: 1,
      incr_hits: 1, decr_misses: 1, decr_hits: 0, cmd_set: 3, cas_badval: 1, cas_misses: 1,
      delete_hits: 1, delete_misses: 1, cmd_flush: 1, store_too_large: 0,
    });
  });

  test('arbitrary input never throws and nothing is replied after a close', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.record({ op: fc.nat(0xff), key: fc.uint8Array({ maxLength: 8 }), extras: fc.uint8Array({ maxLength: 24 }),
        value: fc.uint8Array({ maxLength: 16 }), cas: fc.constantFrom(0n, 1n, 2n) })
        .map((r) => req({ opcode: r.op, key: Buffer.from(r.key), extras: Buffer.from(r.extras), value: Buffer.from(r.value), cas: r.cas })),
    );
    fc.assert(
      fc.property(fc.array(garbage, { maxLength: 20 }), (parts) => {
        const { ctx } = makeContext();
        const sink = new RecordingSink();
        const handler = createBinaryHandler(ctx, sink);
        for (const part of parts) handler.onData(part);
        expect(sink.lateReplies).toBe(0);
        expect(handler.bufferedBytes()).toBeLessThanOrEqual(Math.max(16384, ITEM_SIZE_MAX_BYTES));
      }),
      { numRuns: 500, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
  });
});
