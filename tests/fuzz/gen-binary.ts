/**
 * fast-check arbitraries of valid memcached binary requests (extras, key and value lengths that
 * memcached 1.6.18 accepts for each opcode), plus unknown opcodes, as the bytes a client sends.
 */
import * as fc from 'fast-check';
import { Opcode } from '../../protocol/binary/constants';
import { encodeRequest } from '../../protocol/binary/header';

const keyArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom(250, 251, 400).map((n) => Buffer.alloc(n, 0x6b)) },
);
const valueArb = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const u32 = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constantFrom(0xffffffff, 0x80000000, 2592001));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const opaque = fc.integer({ min: 0, max: 0xffffffff });

function be32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

const quietOr = (loud: number, quiet: number) => fc.constantFrom(loud, quiet);

const storeArb = fc
  .record({ op: fc.constantFrom(Opcode.SET, Opcode.ADD, Opcode.REPLACE, Opcode.SETQ, Opcode.ADDQ, Opcode.REPLACEQ), key: keyArb, value: valueArb, flags: u32, exptime: u32, cas: u64, opaque })
  .map((r) => encodeRequest({ opcode: r.op, key: r.key, extras: be32(r.flags, r.exptime), value: r.value, cas: r.cas, opaque: r.opaque }));

const appendArb = fc
  .record({ op: fc.constantFrom(Opcode.APPEND, Opcode.PREPEND, Opcode.APPENDQ, Opcode.PREPENDQ), key: keyArb, value: valueArb, opaque })
  .map((r) => encodeRequest({ opcode: r.op, key: r.key, value: r.value, opaque: r.opaque }));

const keyOnlyArb = fc
  .record({ op: fc.constantFrom(Opcode.GET, Opcode.GETQ, Opcode.GETK, Opcode.GETKQ, Opcode.DELETE, Opcode.DELETEQ), key: keyArb, opaque })
  .map((r) => encodeRequest({ opcode: r.op, key: r.key, opaque: r.opaque }));

const arithArb = fc
  .record({ op: fc.constantFrom(Opcode.INCREMENT, Opcode.DECREMENT, Opcode.INCREMENTQ, Opcode.DECREMENTQ), key: keyArb, delta: u64, initial: u64, exptime: u32, opaque })
  .map((r) => {
    const extras = Buffer.alloc(20);
    extras.writeBigUInt64BE(r.delta, 0);
    extras.writeBigUInt64BE(r.initial, 8);
    extras.writeUInt32BE(r.exptime >>> 0, 16);
    return encodeRequest({ opcode: r.op, key: r.key, extras, opaque: r.opaque });
  });

const touchArb = fc
  .record({ op: fc.constantFrom(Opcode.TOUCH, Opcode.GAT, Opcode.GATQ, Opcode.GATK, Opcode.GATKQ), key: keyArb, exptime: u32, opaque })
  .map((r) => encodeRequest({ opcode: r.op, key: r.key, extras: be32(r.exptime), opaque: r.opaque }));

const adminArb = fc.oneof(
  fc.record({ op: quietOr(Opcode.FLUSH, Opcode.FLUSHQ), delay: fc.option(u32) }).map((r) =>
    encodeRequest({ opcode: r.op, extras: r.delay === null ? undefined : be32(r.delay) })),
  fc.constantFrom(Opcode.NOOP, Opcode.VERSION, Opcode.SASL_LIST_MECHS).map((op) => encodeRequest({ opcode: op })),
  fc.constantFrom('', 'settings', 'items', 'slabs', 'nope').map((k) => encodeRequest({ opcode: Opcode.STAT, key: Buffer.from(k) })),
  // Without SASL configured, answered as unknown; the value is swallowed.
  fc.record({ op: fc.constantFrom(Opcode.SASL_AUTH, Opcode.SASL_STEP), key: keyArb, value: valueArb }).map((r) =>
    encodeRequest({ opcode: r.op, key: r.key, value: r.value })),
);

/** Opcodes memcached does not know: it swallows the whole announced body although it already read
 *  the key, so the next request loses that many bytes (memcached's behaviour, kept). */
const unknownArb = fc.record({ op: fc.constantFrom(Opcode.VERBOSITY, 0x30, 0x83, 0xff), key: keyArb, value: valueArb }).map((r) =>
  encodeRequest({ opcode: r.op, key: r.key, value: r.value }));

/** One request memcached knows, with the lengths it accepts (QUIT is left to mutations: it ends
 *  the stream). Each one is parsed as exactly one command. */
export const knownRequestArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: storeArb },
  { weight: 2, arbitrary: appendArb },
  { weight: 4, arbitrary: keyOnlyArb },
  { weight: 2, arbitrary: arithArb },
  { weight: 2, arbitrary: touchArb },
  { weight: 2, arbitrary: adminArb },
);

export const binaryRequestArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 16, arbitrary: knownRequestArb },
  { weight: 1, arbitrary: unknownArb },
);

export const binaryStreamArb: fc.Arbitrary<Buffer> = fc.array(binaryRequestArb, { minLength: 1, maxLength: 8 }).map((parts) => Buffer.concat(parts));
