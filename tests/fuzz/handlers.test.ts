/**
 * The protocol handlers end to end in process (parser -> cache -> reply bytes) under fuzzed input,
 * so the cache logic sees garbage too: mutated pipelines of valid requests, in random chunks, on
 * one shared cache per property (state carries over between runs, as on a long-lived server).
 * Properties: onData never throws, every reply settles, replies are well-formed frames of the
 * protocol, nothing is queued after a close, and the cache still works and keeps its accounting.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as fc from 'fast-check';
import { checkAsync } from './fuzz-config';
import { asciiNoiseArb, asciiStreamArb } from './gen-ascii';
import { binaryStreamArb } from './gen-binary';
import { applyMutations, cutsArb, mutationsArb, split } from './mutate';
import { ITEM_SIZE_MAX_BYTES, makeContext, RecordingSink } from '../helpers/handler-context';
import { parseTextFrames } from '../helpers/replyFrames';
import { parseResponse } from '../helpers/binpkt';
import { createAsciiHandler } from '../../daemon/handlers/ascii';
import { createBinaryHandler } from '../../daemon/handlers/binary';
import type { HandlerFactory } from '../../daemon/handlers/types';
import type { ServerContext } from '../../daemon/context';
import type { LocalEngine } from '../../daemon/cache/engine';

const SETTLE_TIMEOUT_MS = 5000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${SETTLE_TIMEOUT_MS} ms`)), SETTLE_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Feeds `chunks` to a fresh handler on `ctx`; returns everything it replied. */
async function run(factory: HandlerFactory, ctx: ServerContext, chunks: Buffer[]): Promise<{ replies: Buffer; sink: RecordingSink }> {
  const sink = new RecordingSink();
  const handler = factory(ctx, sink);
  let fedBytes = 0;
  for (const chunk of chunks) {
    handler.onData(chunk);
    fedBytes += chunk.length;
    // The connection's memory limit relies on this: at most what was sent, or one value block
    // (allocated whole when its command line arrives, as memcached allocates the item).
    const held = handler.bufferedBytes();
    const bound = Math.max(fedBytes, ITEM_SIZE_MAX_BYTES + 2);
    if (!(held >= 0 && held <= bound)) throw new Error(`handler reports ${held} buffered bytes (bound ${bound})`);
  }
  const replies = await withTimeout(sink.settled(), 'handler replies');
  if (sink.lateReplies !== 0) throw new Error(`${sink.lateReplies} replies queued after closeAfterReplies`);
  return { replies, sink };
}

function assertStoreSane(local: LocalEngine): void {
  const s = local.store.stats();
  expect(s.usedBytes).toBeGreaterThanOrEqual(0);
  expect(s.usedBytes).toBeLessThanOrEqual(local.store.memoryLimitBytes);
  expect(s.currItems).toBeGreaterThanOrEqual(0);
  expect(s.usedBytes === 0).toBe(s.currItems === 0);
}

function assertTextReplies(replies: Buffer): void {
  const parsed = parseTextFrames(replies);
  if (parsed.consumed !== replies.length) throw new Error(`reply stream has ${replies.length - parsed.consumed} trailing bytes: ${JSON.stringify(replies.subarray(parsed.consumed).toString('latin1').slice(0, 200))}`);
  for (const f of parsed.frames) {
    const raw = f.kind === 'line' ? f.raw : f.header;
    if (!raw.subarray(-2).equals(Buffer.from('\r\n'))) throw new Error(`reply line without \\r\\n: ${JSON.stringify(raw.toString('latin1'))}`);
    if (f.kind === 'value' && !f.data.subarray(-2).equals(Buffer.from('\r\n'))) throw new Error('value block without \\r\\n');
  }
}

function assertBinaryReplies(replies: Buffer): void {
  let pos = 0;
  for (let i = 0; pos < replies.length && i < 1_000_000; i++) {
    const r = parseResponse(replies, pos);
    if (!r) throw new Error(`truncated binary response at byte ${pos} of ${replies.length}`);
    if (r.magic !== 0x81) throw new Error(`response magic 0x${r.magic.toString(16)} at byte ${pos}`);
    pos += r.raw.length;
  }
  expect(pos).toBe(replies.length);
}

const asciiInputArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(asciiStreamArb, mutationsArb).map(([s, m]) => applyMutations(s, m)) },
  { weight: 2, arbitrary: asciiStreamArb },
  { weight: 1, arbitrary: asciiNoiseArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)) },
);

const binaryInputArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(binaryStreamArb, mutationsArb).map(([s, m]) => applyMutations(s, m)) },
  { weight: 3, arbitrary: binaryStreamArb },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 24, maxLength: 512 }).map((a) => Buffer.from([0x80, ...a])) },
);

describe('protocol handlers in process: fuzzed', () => {
  test('ASCII (text + meta): garbage never breaks the handler or the cache', async () => {
    const { ctx, local } = makeContext();
    await checkAsync(fc.asyncProperty(asciiInputArb, cutsArb, async (input, cuts) => {
      const { replies } = await run(createAsciiHandler, ctx, split(input, cuts));
      assertTextReplies(replies);
      assertStoreSane(local);
    }), 600);
    // The cache still serves a well-behaved client after all that.
    const { replies } = await run(createAsciiHandler, ctx, [Buffer.from('set fuzz:sentinel 0 0 2\r\nok\r\nget fuzz:sentinel\r\nmn\r\n')]);
    expect(replies.toString('latin1')).toBe('STORED\r\nVALUE fuzz:sentinel 0 2\r\nok\r\nEND\r\nMN\r\n');
    expect(() => ctx.stats('')).not.toThrow();
  }, 60_000);

  test('binary: garbage never breaks the handler or the cache', async () => {
    const { ctx, local } = makeContext();
    await checkAsync(fc.asyncProperty(binaryInputArb, cutsArb, async (input, cuts) => {
      const { replies } = await run(createBinaryHandler, ctx, split(input, cuts));
      assertBinaryReplies(replies);
      assertStoreSane(local);
    }), 600);
    const key = Buffer.from('fuzz:sentinel');
    const set = Buffer.alloc(24 + 8 + key.length + 2);
    set[0] = 0x80; set[1] = 0x01; set.writeUInt16BE(key.length, 2); set[4] = 8; set.writeUInt32BE(8 + key.length + 2, 8);
    key.copy(set, 32); set.write('ok', 32 + key.length, 'latin1');
    const get = Buffer.alloc(24 + key.length);
    get[0] = 0x80; get[1] = 0x0c; get.writeUInt16BE(key.length, 2); get.writeUInt32BE(key.length, 8);
    key.copy(get, 24);
    const { replies } = await run(createBinaryHandler, ctx, [set, get]);
    const stored = parseResponse(replies, 0)!;
    expect(stored.status).toBe(0);
    const got = parseResponse(replies, stored.raw.length)!;
    expect(got.status).toBe(0);
    expect(got.key.equals(key)).toBe(true);
    expect(got.value.toString('latin1')).toBe('ok');
  }, 60_000);
});
