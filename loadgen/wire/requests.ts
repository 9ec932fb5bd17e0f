/**
 * Request bytes for the three memcached protocols. Everything that depends only on the key is
 * encoded once before the run (`prefix`); sending a request is then a copy of the prefix, and for
 * a set the shared value and `setSuffix`. No allocation per request beyond the batch buffer.
 */
export type WireProtocol = 'text' | 'binary' | 'meta';
export const WIRE_PROTOCOLS: readonly WireProtocol[] = ['text', 'binary', 'meta'];

/** Operation codes as plain numbers: they are stored in typed arrays on the hot path. */
export const OP_GET = 0;
export const OP_SET = 1;
export type Op = typeof OP_GET | typeof OP_SET;

export interface EncodedRequests {
  /** getPrefix[k]: the whole get request for key k. */
  getPrefix: Buffer[];
  /** setPrefix[k]: the set request for key k up to (excluding) the value. */
  setPrefix: Buffer[];
  /** Bytes after the value (text and meta: CRLF; binary: nothing). */
  setSuffix: Buffer;
  value: Buffer;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

const BINARY_MAGIC_REQUEST = 0x80;
const BINARY_OPCODE_GET = 0x00;
const BINARY_OPCODE_SET = 0x01;
const BINARY_HEADER_BYTES = 24;
const BINARY_SET_EXTRAS_BYTES = 8; // flags (4) + expiration (4)

function binaryRequest(opcode: number, key: Buffer, extrasBytes: number, valueBytes: number): Buffer {
  const header = Buffer.alloc(BINARY_HEADER_BYTES + extrasBytes + key.length);
  header[0] = BINARY_MAGIC_REQUEST;
  header[1] = opcode;
  header.writeUInt16BE(key.length, 2);
  header[4] = extrasBytes;
  header.writeUInt32BE(extrasBytes + key.length + valueBytes, 8);
  // opaque, cas, flags and expiration stay zero.
  key.copy(header, BINARY_HEADER_BYTES + extrasBytes);
  return header;
}

export function encodeRequests(protocol: WireProtocol, keys: Buffer[], value: Buffer): EncodedRequests {
  const size = String(value.length);
  switch (protocol) {
    case 'text':
      return {
        getPrefix: keys.map((k) => Buffer.concat([Buffer.from('get ', 'latin1'), k, CRLF])),
        setPrefix: keys.map((k) => Buffer.concat([Buffer.from('set ', 'latin1'), k, Buffer.from(` 0 0 ${size}\r\n`, 'latin1')])),
        setSuffix: CRLF,
        value,
      };
    case 'meta':
      return {
        getPrefix: keys.map((k) => Buffer.concat([Buffer.from('mg ', 'latin1'), k, Buffer.from(' v\r\n', 'latin1')])),
        setPrefix: keys.map((k) => Buffer.concat([Buffer.from('ms ', 'latin1'), k, Buffer.from(` ${size}\r\n`, 'latin1')])),
        setSuffix: CRLF,
        value,
      };
    case 'binary':
      return {
        getPrefix: keys.map((k) => binaryRequest(BINARY_OPCODE_GET, k, 0, 0)),
        setPrefix: keys.map((k) => binaryRequest(BINARY_OPCODE_SET, k, BINARY_SET_EXTRAS_BYTES, value.length)),
        setSuffix: EMPTY,
        value,
      };
  }
}

/** Bytes one request of this op on this key takes on the wire. */
export function requestBytes(enc: EncodedRequests, op: Op, key: number): number {
  return op === OP_GET ? enc.getPrefix[key].length : enc.setPrefix[key].length + enc.value.length + enc.setSuffix.length;
}

/** Copy one request into `out` at `offset`; returns the offset after it. `out` must have room. */
export function writeRequest(enc: EncodedRequests, op: Op, key: number, out: Buffer, offset: number): number {
  if (op === OP_GET) {
    const p = enc.getPrefix[key];
    p.copy(out, offset);
    return offset + p.length;
  }
  const p = enc.setPrefix[key];
  p.copy(out, offset);
  offset += p.length;
  enc.value.copy(out, offset);
  offset += enc.value.length;
  enc.setSuffix.copy(out, offset);
  return offset + enc.setSuffix.length;
}
