import fc from 'fast-check';
import {
  R_CLIENT_ERROR, R_ERROR, R_EXISTS, R_HIT, R_MISS, R_NOT_FOUND, R_NOT_STORED, R_SERVER_ERROR, R_STORED, R_UNEXPECTED,
  REPLY_KIND_NAMES, ReplyScanner,
} from '../../loadgen/wire/replies';
import type { WireProtocol } from '../../loadgen/wire/requests';

const SEED = Number(process.env.LOADGEN_TEST_SEED ?? 20261125);

function binaryReply(opcode: number, status: number, value = Buffer.alloc(0), extras = 0): Buffer {
  const h = Buffer.alloc(24 + extras + value.length);
  h[0] = 0x81;
  h[1] = opcode;
  h[4] = extras;
  h.writeUInt16BE(status, 6);
  h.writeUInt32BE(extras + value.length, 8);
  value.copy(h, 24 + extras);
  return h;
}

/** Each protocol's replies and the kinds the scanner must report for them, in order. */
const STREAMS: Record<WireProtocol, { bytes: Buffer; kinds: number[] }> = {
  text: {
    bytes: Buffer.from(
      'STORED\r\nVALUE key1 0 5\r\nhello\r\nEND\r\nEND\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\n' +
      'VALUE a 3 2\r\n\r\n\r\nVALUE b 0 0\r\n\r\nEND\r\nSERVER_ERROR out of memory storing object\r\n' +
      'CLIENT_ERROR bad data chunk\r\nERROR\r\nVALUE k 0 4\r\nEND\r\r\nEND\r\n', 'latin1'),
    kinds: [R_STORED, R_HIT, R_MISS, R_NOT_STORED, R_EXISTS, R_NOT_FOUND, R_HIT, R_SERVER_ERROR, R_CLIENT_ERROR, R_ERROR, R_HIT],
  },
  meta: {
    bytes: Buffer.from('HD\r\nVA 5 f0\r\nhello\r\nEN\r\nNS\r\nEX\r\nNF\r\nVA 0\r\n\r\nSERVER_ERROR busy\r\nCLIENT_ERROR bad\r\nERROR\r\n', 'latin1'),
    kinds: [R_STORED, R_HIT, R_MISS, R_NOT_STORED, R_EXISTS, R_NOT_FOUND, R_HIT, R_SERVER_ERROR, R_CLIENT_ERROR, R_ERROR],
  },
  binary: {
    bytes: Buffer.concat([
      binaryReply(0x01, 0), binaryReply(0x00, 0, Buffer.from('value'), 4), binaryReply(0x00, 1, Buffer.from('Not found')),
      binaryReply(0x01, 2), binaryReply(0x01, 5), binaryReply(0x01, 0x82), binaryReply(0x01, 0x04), binaryReply(0x1f, 0x81),
    ]),
    kinds: [R_STORED, R_HIT, R_MISS, R_EXISTS, R_NOT_STORED, R_SERVER_ERROR, R_CLIENT_ERROR, R_ERROR],
  },
};

function scanAll(protocol: WireProtocol, chunks: Buffer[]): number[] {
  const s = new ReplyScanner(protocol);
  const kinds: number[] = [];
  for (const c of chunks) {
    const n = s.scan(c);
    for (let i = 0; i < n; i++) kinds.push(s.kinds[i]);
  }
  return kinds;
}

const names = (kinds: number[]): string[] => kinds.map((k) => REPLY_KIND_NAMES[k]);

describe('ReplyScanner', () => {
  for (const protocol of ['text', 'meta', 'binary'] as WireProtocol[]) {
    const { bytes, kinds } = STREAMS[protocol];

    test(`${protocol}: classifies every reply of one chunk`, () => {
      expect(names(scanAll(protocol, [bytes]))).toEqual(names(kinds));
    });

    test(`${protocol}: any split into chunks gives the same replies, with nothing left over`, () => {
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, i) => Buffer.from(bytes.subarray(points[i], end)));
          const s = new ReplyScanner(protocol);
          const got: number[] = [];
          for (const c of chunks) { const n = s.scan(c); for (let i = 0; i < n; i++) got.push(s.kinds[i]); }
          expect(names(got)).toEqual(names(kinds));
          expect(s.pendingBytes()).toBe(0);
        }),
        { seed: SEED, numRuns: 300 },
      );
    });

    test(`${protocol}: byte-at-a-time delivery`, () => {
      const chunks = Array.from(bytes, (b) => Buffer.from([b]));
      expect(names(scanAll(protocol, chunks))).toEqual(names(kinds));
    });
  }

  test('the read buffer may be reused: a pending partial reply is copied', () => {
    const s = new ReplyScanner('text');
    const shared = Buffer.from('VALUE k 0 5\r\nhel', 'latin1');
    expect(s.scan(shared)).toBe(0);
    shared.fill(0x21); // the caller reuses its buffer for the next read
    const rest = Buffer.from('lo\r\nEND\r\n', 'latin1');
    expect(s.scan(rest)).toBe(1);
    expect(s.kinds[0]).toBe(R_HIT);
  });

  test('more replies than the kinds array holds', () => {
    const s = new ReplyScanner('meta');
    const n = s.scan(Buffer.from('HD\r\n'.repeat(1000), 'latin1'));
    expect(n).toBe(1000);
    expect(Array.from(s.kinds.subarray(0, n)).every((k) => k === R_STORED)).toBe(true);
  });

  test.each([
    ['text', 'STORED\r\nBOGUS reply\r\nSTORED\r\n'],
    ['text', 'VALUE k 0 3\r\nabcXY\r\nEND\r\n'],
    ['text', 'VALUE k 0 x\r\n'],
    ['meta', 'HD\r\nVZ 1\r\n'],
    ['text', 'STORED\r\n' + 'x'.repeat(10_000)],
  ] as Array<[WireProtocol, string]>)('%s: unintelligible input desyncs once (%#)', (protocol, text) => {
    const s = new ReplyScanner(protocol);
    const n = s.scan(Buffer.from(text, 'latin1'));
    expect(names(Array.from(s.kinds.subarray(0, n)))).toEqual(text.startsWith('STORED') || text.startsWith('HD') ? ['stored', 'unexpected'] : ['unexpected']);
    expect(s.desynced).toBe(true);
    expect(s.scan(Buffer.from('STORED\r\n'))).toBe(0);
  });

  test('binary: a non-response magic byte desyncs', () => {
    const s = new ReplyScanner('binary');
    const n = s.scan(Buffer.concat([binaryReply(0x01, 0), Buffer.from([0x80, 0, 0, 0])]));
    expect(names(Array.from(s.kinds.subarray(0, n)))).toEqual(['stored', 'unexpected']);
    expect(s.desynced).toBe(true);
    expect(R_UNEXPECTED).toBe(9);
  });
});
