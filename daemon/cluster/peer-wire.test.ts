import fc from 'fast-check';
import { encodeFrame, FrameReader } from './peer-wire';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** Shapes the daemons send: ops with key/value Buffers and bigint CAS, nested results, arrays. */
const message = fc.record({
  t: fc.constantFrom('op', 'reply', 'snapshot-part'),
  id: fc.nat(),
  op: fc.record({ op: fc.constantFrom('store', 'arith'), key: bytes, value: bytes, flags: fc.nat(), compareCas: u64, delta: u64 }),
  effects: fc.array(fc.record({ kind: fc.constant('put'), key: bytes, value: bytes, cas: u64, stale: fc.boolean() }), { maxLength: 5 }),
  result: fc.record({ status: fc.string(), cas: fc.option(u64, { nil: undefined }), nested: fc.array(fc.oneof(u64, bytes, fc.integer(), fc.string())) }),
});

test('every message round-trips exactly through frames split at any byte', () => {
  fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), fc.nat(), (messages, cut) => {
    const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
    const at = cut % (stream.length + 1);
    const reader = new FrameReader();
    const got = [...reader.push(stream.subarray(0, at)), ...reader.push(stream.subarray(at))];
    // An undefined field is left out, as JSON does.
    const expected = messages.map((m) => ({ ...m, result: Object.fromEntries(Object.entries(m.result).filter(([, v]) => v !== undefined)) }));
    expect(got).toEqual(expected);
  }), { seed: 7, numRuns: 300 });
});

test('a "__proto__" key stays an own data property and never changes the prototype', () => {
  const reader = new FrameReader();
  const body = Buffer.from('{"t":"x","__proto__":{"$b":"AAE="},"inner":{"__proto__":{"polluted":true}}}');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  const [msg] = reader.push(Buffer.concat([head, body])) as Array<Record<string, unknown>>;
  expect(Object.getPrototypeOf(msg)).toBe(Object.prototype);
  expect(Object.getOwnPropertyDescriptor(msg, '__proto__')?.value).toEqual(Buffer.from([0, 1]));
  const inner = msg.inner as Record<string, unknown>;
  expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
  expect((inner as { polluted?: boolean }).polluted).toBeUndefined();
  expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
});

test('a malformed tag is refused like bad JSON (the link drops the connection)', () => {
  const reader = new FrameReader();
  const body = Buffer.from('{"t":"x","cas":{"$n":"12z"}}');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  expect(() => reader.push(Buffer.concat([head, body]))).toThrow();
});
