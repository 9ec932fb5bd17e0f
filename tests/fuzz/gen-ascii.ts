/**
 * fast-check arbitraries of valid text-protocol and meta-protocol requests (memcached 1.6.18
 * protocol.txt), as the bytes a client sends. They are the seeds the fuzz tests mutate: valid input
 * reaches deep into the parser before a mutation breaks it.
 */
import * as fc from 'fast-check';

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:.';

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.constantFrom(...KEY_CHARS), { minLength: 1, maxLength: 12 }).map((c) => c.join('')) },
  // At and just over memcached's 250-byte key limit.
  { weight: 1, arbitrary: fc.constantFrom(249, 250, 251, 300).map((n) => 'k'.repeat(n)) },
);

/** Values, sometimes holding the bytes a line parser cares about. */
export const valueArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)),
  fc.constantFrom('', '0', '42', '18446744073709551615', 'END\r\n', '\r\n', 'a\nb', 'VALUE x 0 1').map((s) => Buffer.from(s, 'latin1')),
);

const smallNumber = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constantFrom(-1, 4294967295, 2592001)).map(String);
const noreplyArb = fc.constantFrom('', ' noreply');
const line = (s: string): Buffer => Buffer.from(`${s}\r\n`, 'latin1');

const getArb = fc
  .record({ verb: fc.constantFrom('get', 'gets', 'gat', 'gats', 'bget'), keys: fc.array(keyArb, { minLength: 1, maxLength: 5 }), exptime: smallNumber })
  .map(({ verb, keys, exptime }) => line(`${verb}${verb.startsWith('gat') ? ` ${exptime}` : ''} ${keys.join(' ')}`));

const storeArb = fc
  .record({
    verb: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend', 'cas'),
    key: keyArb, flags: smallNumber, exptime: smallNumber, value: valueArb,
    cas: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), noreply: noreplyArb,
    lengthDelta: fc.constantFrom(0, 0, 0, 0, -1, 1),
  })
  .map(({ verb, key, flags, exptime, value, cas, noreply, lengthDelta }) => {
    const casPart = verb === 'cas' ? ` ${cas}` : '';
    const head = line(`${verb} ${key} ${flags} ${exptime} ${Math.max(0, value.length + lengthDelta)}${casPart}${noreply}`);
    return Buffer.concat([head, value, Buffer.from('\r\n')]);
  });

const simpleArb = fc.oneof(
  fc.tuple(fc.constantFrom('incr', 'decr'), keyArb, fc.constantFrom('1', '0', '18446744073709551615', '5'), noreplyArb).map(([v, k, d, n]) => line(`${v} ${k} ${d}${n}`)),
  fc.tuple(keyArb, fc.constantFrom('', ' 0'), noreplyArb).map(([k, hold, n]) => line(`delete ${k}${hold}${n}`)),
  fc.tuple(keyArb, smallNumber, noreplyArb).map(([k, e, n]) => line(`touch ${k} ${e}${n}`)),
  fc.tuple(fc.constantFrom('', ' 0', ' -1', ' 1'), noreplyArb).map(([d, n]) => line(`flush_all${d}${n}`)),
  fc.constantFrom('version', 'verbosity 1', 'verbosity 0 noreply', 'stats', 'stats settings', 'stats items', 'stats slabs', 'stats detail dump', 'stats cachedump 1 1', 'shutdown', 'quit').map(line),
);

const META_FLAGS = ['v', 'k', 'c', 'f', 't', 's', 'q', 'O123', 'Oopaque', 'T30', 'T-1', 'N30', 'R10', 'I', 'b', 'u', 'h', 'l', 'x',
  'MS', 'ME', 'MA', 'MP', 'MR', 'M+', 'M-', 'MI', 'MD', 'MZ', 'D5', 'J10', 'C123', 'F5', 'E99', 'S10', 'Z', 'O' + 'x'.repeat(40)];
const metaFlagsArb = fc.array(fc.constantFrom(...META_FLAGS), { maxLength: 6 }).map((f) => (f.length ? ` ${f.join(' ')}` : ''));

const metaArb = fc.oneof(
  fc.tuple(fc.constantFrom('mg', 'md', 'ma'), keyArb, metaFlagsArb).map(([v, k, f]) => line(`${v} ${k}${f}`)),
  fc.tuple(keyArb, valueArb, metaFlagsArb, fc.constantFrom(0, 0, 0, 1, -1)).map(([k, value, f, delta]) =>
    Buffer.concat([line(`ms ${k} ${Math.max(0, value.length + delta)}${f}`), value, Buffer.from('\r\n')])),
  fc.constantFrom('mn', 'me foo', 'me Zm9v b', 'mg Zm9v b v', 'ms Zm9v 1 b', 'mz x').map(line),
);

/** One valid text or meta request. */
export const asciiCommandArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: getArb },
  { weight: 4, arbitrary: storeArb },
  { weight: 3, arbitrary: simpleArb },
  { weight: 4, arbitrary: metaArb },
);

/** Several requests back to back, as a pipelining client sends them. */
export const asciiStreamArb: fc.Arbitrary<Buffer> = fc.array(asciiCommandArb, { minLength: 1, maxLength: 8 }).map((parts) => Buffer.concat(parts));

/** Bytes drawn mostly from the protocol's own alphabet, so random input forms near-commands. */
export const asciiNoiseArb: fc.Arbitrary<Buffer> = fc
  .array(fc.constantFrom(...'getsadm \r\n0123456789-vkqTNnoreply\0'.split('')), { maxLength: 300 })
  .map((c) => Buffer.from(c.join(''), 'latin1'));

/** Lines around the 2048-byte limit (and past the tests' 16 KiB multi-get cap), with and without a
 *  multi-get prefix and a newline. */
export const longLineArb: fc.Arbitrary<Buffer> = fc
  .record({
    prefix: fc.constantFrom('', 'get ', 'gets ', ' '.repeat(100) + 'get ', ' '.repeat(101) + 'get ', 'set ', 'mg '),
    fill: fc.integer({ min: 2000, max: 20_000 }),
    newline: fc.boolean(),
  })
  .map(({ prefix, fill, newline }) => Buffer.from(prefix + 'k '.repeat(fill >> 1) + (newline ? '\r\n' : ''), 'latin1'));
