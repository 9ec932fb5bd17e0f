/**
 * Expected bytes below were captured from memcached 1.6.18 (`memcached -U 0 -t 1`) over a raw
 * socket; each case names the request that produced it.
 */
import { Opcode, Status } from './constants';
import { encodeCounter, encodeError, encodeItem, encodeKeyMiss, encodeResponse, encodeStats } from './encode';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('binary response encoders', () => {
  test('get hit: flags extras, value, item CAS, opaque echoed', () => {
    // set a (flags 0xdeadbeef) "hello" -> CAS 1; get a with opaque 2
    const bytes = encodeItem(Opcode.GET, 2, { flags: 0xdeadbeef, cas: 1n, value: Buffer.from('hello') }, undefined, true);
    expect(bytes).toEqual(hex('8100 0000 0400 0000 00000009 00000002 0000000000000001 deadbeef 68656c6c6f'));
  });

  test('getk hit carries the key; touch carries flags only', () => {
    const item = { flags: 0xdeadbeef, cas: 1n, value: Buffer.from('hello') };
    expect(encodeItem(Opcode.GETK, 3, item, Buffer.from('a'), true))
      .toEqual(hex('810c 0001 0400 0000 0000000a 00000003 0000000000000001 deadbeef 61 68656c6c6f'));
    expect(encodeItem(Opcode.TOUCH, 8, item, undefined, false))
      .toEqual(hex('811c 0000 0400 0000 00000004 00000008 0000000000000001 deadbeef'));
  });

  test('misses: "Not found" for get, the bare key for getk', () => {
    expect(encodeError(Opcode.GET, 6, Status.KEY_ENOENT))
      .toEqual(Buffer.concat([hex('8100 0000 0000 0001 00000009 00000006 0000000000000000'), Buffer.from('Not found')]));
    expect(encodeKeyMiss(Opcode.GETK, 7, Buffer.from('zz')))
      .toEqual(hex('810c 0002 0000 0001 00000002 00000007 0000000000000000 7a7a'));
  });

  test('error texts are memcached\'s', () => {
    const text = (status: number) => encodeError(Opcode.SET, 0, status).subarray(24).toString();
    expect(text(Status.KEY_EEXISTS)).toBe('Data exists for key.');
    expect(text(Status.E2BIG)).toBe('Too large.');
    expect(text(Status.NOT_STORED)).toBe('Not stored.');
    expect(text(Status.DELTA_BADVAL)).toBe('Non-numeric server-side value for incr or decr');
    expect(text(Status.UNKNOWN_COMMAND)).toBe('Unknown command');
    expect(text(Status.EINVAL)).toBe('Invalid arguments');
    expect(encodeError(Opcode.VERBOSITY, 7, Status.UNKNOWN_COMMAND))
      .toEqual(Buffer.concat([hex('811b 0000 0000 0081 0000000f 00000007 0000000000000000'), Buffer.from('Unknown command')]));
  });

  test('incr reply: 8-byte value and the new CAS', () => {
    // incr n (missing) delta 5 initial 10 -> 10, CAS 2
    expect(encodeCounter(Opcode.INCREMENT, 0, 10n, 2n))
      .toEqual(hex('8105 0000 0000 0000 00000008 00000000 0000000000000002 000000000000000a'));
  });

  test('stats: one packet per pair with the opaque, then an empty terminator', () => {
    expect(encodeStats(Opcode.STAT, 0x01020304, [['maxconns', '1024']])).toEqual(Buffer.concat([
      hex('8110 0008 0000 0000 0000000c 01020304 0000000000000000'), Buffer.from('maxconns1024'),
      hex('8110 0000 0000 0000 00000000 01020304 0000000000000000'),
    ]));
  });

  test('plain success with CAS (set reply)', () => {
    expect(encodeResponse({ opcode: Opcode.SET, opaque: 1, cas: 1n }))
      .toEqual(hex('8101 0000 0000 0000 00000000 00000001 0000000000000001'));
  });
});
