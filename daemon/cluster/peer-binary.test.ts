import fc from 'fast-check';
import { encodeFrame, FrameReader } from './peer-wire';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const num = fc.oneof(fc.integer(), fc.double({ noNaN: true }));

/** A forwarded store op as a follower's handlers build it, optional fields present or not. */
const storeOpMessage = fc.record({
  t: fc.constant('op'),
  id: fc.nat(),
  deadlineAtMs: num,
  budgetMs: num,
  op: fc.record({
    op: fc.constant('store'),
    mode: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend', 'cas'),
    key: bytes, value: bytes, valueOwned: opt(fc.boolean()), flags: fc.nat({ max: 0xffffffff }), exptime: fc.integer(),
    compareCas: opt(u64), explicitCas: opt(u64), invalidate: opt(fc.boolean()), keyBinary: opt(fc.boolean()),
  }),
  // The follower's tag (cache/outcomes.ts): absent from older builds' frames.
  tag: opt(fc.record({ origin: fc.nat({ max: 0xffffffff }), session: fc.nat({ max: 0x1fffff }), seq: fc.nat({ max: 0xffffffff }) })),
});

const statusReply = fc.record({
  t: fc.constant('reply'),
  id: fc.nat(),
  ok: fc.constant(true),
  result: fc.record({ status: fc.constantFrom('STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK'), cas: opt(u64) }),
  index: fc.nat(),
  commitIndex: opt(fc.nat()),
  proposal: opt(fc.nat()),
});

/** What JSON would give back: undefined fields left out, at every depth. */
function withoutUndefined(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, withoutUndefined(x)]));
}

const decodeAll = (frames: Buffer[]) => new FrameReader().push(Buffer.concat(frames));

test('a forwarded store op and a status reply travel binary (no base64) and round-trip exactly', () => {
  fc.assert(fc.property(fc.oneof(storeOpMessage, statusReply), (message) => {
    const frame = encodeFrame(message, true);
    expect(frame[4]).not.toBe(0x7b); // not a JSON body
    if (message.t === 'op') {
      // The value's bytes are in the frame as they are.
      expect(frame.includes(message.op.value)).toBe(true);
      expect(frame.length).toBeLessThan(92 + message.op.key.length + message.op.value.length);
    }
    // valueOwned is this node's hint about its own buffer: it does not travel.
    const sent = message.t === 'op' ? { ...message, op: { ...message.op, valueOwned: undefined } } : message;
    expect(decodeAll([frame])).toEqual([withoutUndefined(sent)]);
  }), { seed: 11, numRuns: 500 });
});

test('without the peer saying it reads them, no binary frame is sent', () => {
  fc.assert(fc.property(fc.oneof(storeOpMessage, statusReply), (message) => {
    const frame = encodeFrame(message);
    expect(frame[4]).toBe(0x7b);
    expect(decodeAll([frame])).toEqual([withoutUndefined(message)]);
  }), { seed: 12, numRuns: 100 });
});

test('any other shape stays JSON and still round-trips exactly', () => {
  const others: Array<Record<string, unknown>> = [
    { t: 'op', id: 1, deadlineAtMs: 5, budgetMs: 4, op: { op: 'arith', key: Buffer.from('k'), incr: true, delta: 5n } },
    { t: 'op', id: 2, deadlineAtMs: 5, budgetMs: 4, op: { op: 'store', mode: 'set', key: Buffer.from('k'), value: Buffer.from('v'), flags: 0, exptime: 0, extra: 1 } },
    { t: 'op', id: 3, deadlineAtMs: 5, budgetMs: 4, op: { op: 'store', mode: 'set', key: Buffer.from('k'), value: Buffer.from('v'), flags: 2 ** 32, exptime: 0 } },
    { t: 'op', id: 4, deadlineAtMs: 5, budgetMs: 4, op: { op: 'store', mode: 'sideways', key: Buffer.from('k'), value: Buffer.from('v'), flags: 0, exptime: 0 } },
    { t: 'reply', id: 5, ok: true, result: { status: 'OK', value: 7n, cas: 3n }, index: 9 },
    { t: 'reply', id: 6, ok: true, result: { status: 'WEIRD' }, index: 9 },
    { t: 'reply', id: 7, ok: false, message: 'no', retryable: true },
    { t: 'reply', id: 8, ok: true, result: { status: 'STORED', cas: -1n }, index: 9 },
    { t: 'snapshot-part', transfer: 'x', part: 0, effects: [], index: 3, done: true },
  ];
  for (const m of others) {
    const frame = encodeFrame(m, true);
    expect(frame[4]).toBe(0x7b);
    expect(decodeAll([frame])).toEqual([m]);
  }
});

test('a malformed binary body is refused (the link drops the connection), never half-read', () => {
  const good = encodeFrame({
    t: 'op', id: 1, deadlineAtMs: 5, budgetMs: 4,
    op: { op: 'store', mode: 'cas', key: Buffer.from('key'), value: Buffer.from('value'), flags: 1, exptime: 0, compareCas: 5n },
  }, true);
  const body = good.subarray(4);
  const framed = (b: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(b.length);
    return Buffer.concat([head, b]);
  };
  // Every truncation, one trailing byte, an unknown kind, mode, or field bit.
  for (let n = 1; n < body.length; n++) expect(() => decodeAll([framed(body.subarray(0, n))])).toThrow(/truncated|trailing/);
  expect(() => decodeAll([framed(Buffer.concat([body, Buffer.from([0])]))])).toThrow(/trailing/);
  const mutated = (at: number, v: number) => {
    const b = Buffer.from(body);
    b[at] = v;
    return framed(b);
  };
  expect(() => decodeAll([mutated(0, 9)])).toThrow(/kind/);
  expect(() => decodeAll([mutated(25, 6)])).toThrow(/mode/);
  expect(() => decodeAll([mutated(26, 0x80)])).toThrow(/bits/);
  expect(() => decodeAll([mutated(26, 0x09)])).toThrow(/bits/); // "invalidate true" without "invalidate"
});
