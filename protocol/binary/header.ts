/** The fixed 24-byte request header, decoded; multi-byte fields are big-endian on the wire. */
import { HEADER_BYTES } from './constants';

export interface RequestHeader {
  magic: number;
  /** The opcode as sent (a quiet opcode stays quiet here; replies echo it). */
  opcode: number;
  keyBytes: number;
  extrasBytes: number;
  dataType: number;
  vbucket: number;
  /** extras + key + value, as announced (unsigned 32-bit). */
  bodyBytes: number;
  /** Echoed verbatim in every reply to this request. */
  opaque: number;
  cas: bigint;
}

/** Decode the header at `offset`; the caller guarantees HEADER_BYTES are available. */
export function decodeRequestHeader(bytes: Buffer, offset = 0): RequestHeader {
  if (bytes.length - offset < HEADER_BYTES) throw new RangeError('incomplete binary header');
  return {
    magic: bytes[offset],
    opcode: bytes[offset + 1],
    keyBytes: bytes.readUInt16BE(offset + 2),
    extrasBytes: bytes[offset + 4],
    dataType: bytes[offset + 5],
    vbucket: bytes.readUInt16BE(offset + 6),
    bodyBytes: bytes.readUInt32BE(offset + 8),
    opaque: bytes.readUInt32BE(offset + 12),
    cas: bytes.readBigUInt64BE(offset + 16),
  };
}

/** Request bytes as a client sends them (tests and tools; the server never sends requests). */
export function encodeRequest(fields: {
  opcode: number;
  key?: Buffer;
  extras?: Buffer;
  value?: Buffer;
  opaque?: number;
  cas?: bigint;
  /** Override the announced body length (malformed-input tests). */
  bodyBytes?: number;
  magic?: number;
}): Buffer {
  const key = fields.key ?? Buffer.alloc(0);
  const extras = fields.extras ?? Buffer.alloc(0);
  const value = fields.value ?? Buffer.alloc(0);
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = fields.magic ?? 0x80;
  header[1] = fields.opcode;
  header.writeUInt16BE(key.length, 2);
  header[4] = extras.length;
  header.writeUInt32BE(fields.bodyBytes ?? extras.length + key.length + value.length, 8);
  header.writeUInt32BE(fields.opaque ?? 0, 12);
  header.writeBigUInt64BE(fields.cas ?? 0n, 16);
  return Buffer.concat([header, extras, key, value]);
}
