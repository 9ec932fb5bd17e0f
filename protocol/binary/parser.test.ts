import fc from 'fast-check';
import { Opcode, READ_BUFFER_BYTES, Status } from './constants';
import type { BinaryCommand } from './commands';
import { encodeRequest } from './header';
import { BinaryRequestParser } from './parser';

const MAX_VALUE_BYTES = 1000;
const newParser = () => new BinaryRequestParser({ maxKeyBytes: 250, maxValueBytes: () => MAX_VALUE_BYTES });

/** Commands as plain data, so jest compares buffers and bigints by content. */
function plain(cmds: BinaryCommand[]): unknown[] {
  return cmds.map((c) => JSON.parse(JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))));
}

function parseChunks(chunks: Buffer[]): { cmds: BinaryCommand[]; maxBuffered: number } {
  const parser = newParser();
  const cmds: BinaryCommand[] = [];
  let maxBuffered = 0;
  for (const chunk of chunks) {
    cmds.push(...parser.push(chunk));
    maxBuffered = Math.max(maxBuffered, parser.bufferedBytes());
  }
  return { cmds, maxBuffered };
}

function splitAt(bytes: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const storeExtras = (flags: number, exptime: number) => Buffer.concat([u32(flags), u32(exptime)]);
const key = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a));

/** Requests memcached accepts, plus ones it rejects without closing (unknown, too large). */
const request = fc.oneof(
  fc.record({ op: fc.constantFrom(Opcode.SET, Opcode.SETQ, Opcode.ADD, Opcode.REPLACEQ), key, flags: fc.nat(),
    value: fc.uint8Array({ maxLength: 40 }), cas: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), opaque: fc.nat() })
    .map((r) => encodeRequest({ opcode: r.op, key: r.key, extras: storeExtras(r.flags, 0), value: Buffer.from(r.value), cas: r.cas, opaque: r.opaque })),
  fc.record({ op: fc.constantFrom(Opcode.GET, Opcode.GETKQ, Opcode.DELETE), key, opaque: fc.nat() })
    .map((r) => encodeRequest({ opcode: r.op, key: r.key, opaque: r.opaque })),
  fc.record({ op: fc.constantFrom(Opcode.APPEND, Opcode.PREPENDQ), key, value: fc.uint8Array({ maxLength: 20 }) })
    .map((r) => encodeRequest({ opcode: r.op, key: r.key, value: Buffer.from(r.value) })),
  fc.record({ op: fc.constantFrom(Opcode.INCREMENT, Opcode.DECREMENTQ), key })
    .map((r) => encodeRequest({ opcode: r.op, key: r.key, extras: Buffer.alloc(20, 1) })),
  fc.record({ op: fc.constantFrom(Opcode.TOUCH, Opcode.GATKQ), key })
    .map((r) => encodeRequest({ opcode: r.op, key: r.key, extras: u32(100) })),
  fc.constantFrom(Opcode.NOOP, Opcode.VERSION).map((op) => encodeRequest({ opcode: op })),
  fc.constant(encodeRequest({ opcode: Opcode.FLUSH, extras: u32(5) })),
  fc.constant(encodeRequest({ opcode: Opcode.STAT, key: Buffer.from('items') })),
  fc.integer({ min: 0x30, max: 0xff }).map((op) => encodeRequest({ opcode: op, value: Buffer.alloc(op % 7, 9) })),
  fc.integer({ min: MAX_VALUE_BYTES + 1, max: MAX_VALUE_BYTES + 50 })
    .map((n) => encodeRequest({ opcode: Opcode.SET, key: Buffer.from('big'), extras: storeExtras(0, 0), value: Buffer.alloc(n, 7) })),
);

describe('BinaryRequestParser', () => {
  test('commands do not depend on how the stream is split into chunks', () => {
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (reqs, points) => {
        const stream = Buffer.concat(reqs);
        const whole = parseChunks([stream]);
        const split = parseChunks(splitAt(stream, points));
        const byteByByte = parseChunks([...stream].map((b) => Buffer.from([b])));
        expect(whole.cmds).toHaveLength(reqs.length);
        expect(plain(split.cmds)).toEqual(plain(whole.cmds));
        expect(plain(byteByByte.cmds)).toEqual(plain(whole.cmds));
      }),
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
  });

  test('a set carries flags, expiry, key, value, opaque and CAS; quiet opcodes map to loud ones', () => {
    const bytes = encodeRequest({ opcode: Opcode.SETQ, key: Buffer.from('k'), extras: storeExtras(0xdeadbeef, 60),
      value: Buffer.from('hello'), opaque: 0xfeedface, cas: 42n });
    const [cmd] = newParser().push(bytes);
    expect(cmd.kind).toBe('request');
    if (cmd.kind !== 'request') return;
    expect(cmd.command).toBe(Opcode.SET);
    expect(cmd.quiet).toBe(true);
    expect(cmd.header.opcode).toBe(Opcode.SETQ);
    expect(cmd.header.opaque).toBe(0xfeedface);
    expect(cmd.header.cas).toBe(42n);
    expect(cmd.extras.readUInt32BE(0)).toBe(0xdeadbeef);
    expect(cmd.key.toString()).toBe('k');
    expect(cmd.value.toString()).toBe('hello');
  });

  test('a bad magic byte closes the stream; later bytes are ignored', () => {
    const parser = newParser();
    const cmds = parser.push(Buffer.concat([encodeRequest({ opcode: Opcode.NOOP }), encodeRequest({ opcode: Opcode.NOOP, magic: 0x81 }),
      encodeRequest({ opcode: Opcode.NOOP })]));
    expect(cmds.map((c) => c.kind)).toEqual(['request', 'close']);
    expect(parser.closed).toBe(true);
    expect(parser.push(encodeRequest({ opcode: Opcode.NOOP }))).toEqual([]);
    expect(parser.bufferedBytes()).toBe(0);
  });

  test('key and extras longer than the body: unknown command, then close', () => {
    const cmds = newParser().push(encodeRequest({ opcode: Opcode.GET, key: Buffer.from('abc'), bodyBytes: 2 }));
    expect(cmds).toMatchObject([{ kind: 'error', status: Status.UNKNOWN_COMMAND, close: true }]);
  });

  test('keys over 250 bytes and wrong lengths for an opcode are invalid arguments, then close', () => {
    for (const bytes of [
      encodeRequest({ opcode: Opcode.GET, key: Buffer.alloc(251, 97) }),
      encodeRequest({ opcode: Opcode.GET, key: Buffer.from('k'), value: Buffer.from('x') }),
      encodeRequest({ opcode: Opcode.NOOP, extras: u32(1) }),
      encodeRequest({ opcode: Opcode.SET, key: Buffer.from('k'), extras: u32(1) }),
      encodeRequest({ opcode: Opcode.SASL_AUTH }),
    ]) {
      expect(newParser().push(bytes)).toMatchObject([{ kind: 'error', status: Status.EINVAL, close: true }]);
    }
  });

  test('a request head larger than the read buffer closes once the buffer is full', () => {
    const bytes = encodeRequest({ opcode: Opcode.GET, key: Buffer.alloc(20000, 97) });
    const parser = newParser();
    expect(parser.push(bytes.subarray(0, READ_BUFFER_BYTES - 1))).toEqual([]);
    expect(parser.push(bytes.subarray(READ_BUFFER_BYTES - 1, READ_BUFFER_BYTES))).toMatchObject([{ kind: 'close' }]);
    // A head that exactly fills the buffer is still dispatched (and refused for its key length).
    const fits = encodeRequest({ opcode: Opcode.GET, key: Buffer.alloc(READ_BUFFER_BYTES - 24, 97) });
    expect(newParser().push(fits)).toMatchObject([{ kind: 'error', status: Status.EINVAL }]);
  });

  test('an over-limit value is swallowed as it arrives, never buffered', () => {
    const parser = newParser();
    const valueBytes = 50 * 1024 * 1024;
    const head = encodeRequest({ opcode: Opcode.SET, key: Buffer.from('big'), extras: storeExtras(0, 0), bodyBytes: 11 + valueBytes });
    expect(parser.push(head)).toMatchObject([{ kind: 'tooLarge', command: Opcode.SET }]);
    const chunk = Buffer.alloc(64 * 1024, 0x80);
    for (let sent = 0; sent < valueBytes; sent += chunk.length) {
      expect(parser.push(chunk)).toEqual([]);
      expect(parser.bufferedBytes()).toBe(0);
    }
    expect(parser.push(encodeRequest({ opcode: Opcode.NOOP, opaque: 5 }))).toMatchObject([{ kind: 'request', header: { opaque: 5 } }]);
  });

  test('a value length of 2^31 or more is too large but swallows nothing (memcached int overflow)', () => {
    const head = encodeRequest({ opcode: Opcode.SET, key: Buffer.from('big'), extras: storeExtras(0, 0), bodyBytes: 0xffffffff });
    const cmds = newParser().push(Buffer.concat([head, encodeRequest({ opcode: Opcode.NOOP, opaque: 6 })]));
    expect(cmds).toMatchObject([{ kind: 'tooLarge' }, { kind: 'request', command: Opcode.NOOP, header: { opaque: 6 } }]);
  });

  test('an unknown opcode swallows its whole body after its extras and key (as memcached does)', () => {
    const verbosity = encodeRequest({ opcode: Opcode.VERBOSITY, extras: u32(1), opaque: 7 });
    const noop = encodeRequest({ opcode: Opcode.NOOP, opaque: 8 });
    const parser = newParser();
    expect(parser.push(Buffer.concat([verbosity, noop]))).toMatchObject([{ kind: 'error', status: Status.UNKNOWN_COMMAND, close: false }]);
    // The first 4 bytes of the noop were swallowed: the rest is an incomplete head.
    expect(parser.bufferedBytes()).toBe(20);
  });

  test('SASL opcodes without SASL: unknown command, the mechanism data swallowed', () => {
    const auth = encodeRequest({ opcode: Opcode.SASL_AUTH, key: Buffer.from('PLAIN'), value: Buffer.from('\0a\0b') });
    const cmds = newParser().push(Buffer.concat([auth, encodeRequest({ opcode: Opcode.SASL_LIST_MECHS }), encodeRequest({ opcode: Opcode.NOOP })]));
    expect(cmds).toMatchObject([
      { kind: 'error', status: Status.UNKNOWN_COMMAND, close: false },
      { kind: 'error', status: Status.UNKNOWN_COMMAND, close: false },
      { kind: 'request', command: Opcode.NOOP },
    ]);
  });

  test('a stat body longer than its key is read as the next request (memcached does not consume it)', () => {
    const stat = encodeRequest({ opcode: Opcode.STAT, key: Buffer.from('reset'), value: encodeRequest({ opcode: Opcode.NOOP, opaque: 77 }) });
    expect(newParser().push(stat)).toMatchObject([
      { kind: 'request', command: Opcode.STAT }, { kind: 'request', command: Opcode.NOOP, header: { opaque: 77 } },
    ]);
  });

  test('quit ends the stream', () => {
    const parser = newParser();
    const cmds = parser.push(Buffer.concat([encodeRequest({ opcode: Opcode.QUITQ }), encodeRequest({ opcode: Opcode.NOOP })]));
    expect(cmds).toMatchObject([{ kind: 'request', command: Opcode.QUIT, quiet: true }]);
    expect(parser.closed).toBe(true);
  });

  test('buffering stays bounded for arbitrary garbage after a valid magic byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 20 }), (garbage, points) => {
        const bytes = Buffer.concat([Buffer.from([0x80]), Buffer.from(garbage)]);
        const { maxBuffered } = parseChunks(splitAt(bytes, points));
        expect(maxBuffered).toBeLessThanOrEqual(Math.max(READ_BUFFER_BYTES, MAX_VALUE_BYTES));
      }),
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
  });
});
