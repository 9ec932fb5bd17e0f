/**
 * memcached binary protocol packets, written independently of protocol/ so tests do not trust the
 * code they check. Header layout (24 bytes, big endian): magic, opcode, key length (2), extras
 * length, data type, vbucket (request) / status (response) (2), total body (4), opaque (4), CAS (8).
 */
export const REQ_MAGIC = 0x80;
export const RES_MAGIC = 0x81;
export const HEADER_BYTES = 24;

export const Op = {
  get: 0x00, set: 0x01, add: 0x02, replace: 0x03, delete: 0x04, incr: 0x05, decr: 0x06,
  quit: 0x07, flush: 0x08, getq: 0x09, noop: 0x0a, version: 0x0b, getk: 0x0c, getkq: 0x0d,
  append: 0x0e, prepend: 0x0f, stat: 0x10, setq: 0x11, addq: 0x12, replaceq: 0x13, deleteq: 0x14,
  incrq: 0x15, decrq: 0x16, quitq: 0x17, flushq: 0x18, appendq: 0x19, prependq: 0x1a,
  verbosity: 0x1b, touch: 0x1c, gat: 0x1d, gatq: 0x1e, gatk: 0x23, gatkq: 0x24,
} as const;

export const opName: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));

export interface BinRequest {
  opcode: number;
  key?: Buffer;
  extras?: Buffer;
  value?: Buffer;
  opaque?: number;
  cas?: bigint;
  /** Override the magic byte (bad-input tests). */
  magic?: number;
  /** Override the declared extras length (bad-input tests). */
  extrasLenOverride?: number;
}

export function encodeRequest(r: BinRequest): Buffer {
  const key = r.key ?? Buffer.alloc(0);
  const extras = r.extras ?? Buffer.alloc(0);
  const value = r.value ?? Buffer.alloc(0);
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = r.magic ?? REQ_MAGIC;
  h[1] = r.opcode;
  h.writeUInt16BE(key.length & 0xffff, 2);
  h[4] = r.extrasLenOverride ?? extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE((r.opaque ?? 0) >>> 0, 12);
  h.writeBigUInt64BE(r.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** Extras of set/add/replace: flags, exptime. */
export function storeExtras(flags: number, exptime: number): Buffer {
  const e = Buffer.alloc(8);
  e.writeUInt32BE(flags >>> 0, 0);
  e.writeUInt32BE(exptime >>> 0, 4);
  return e;
}

/** Extras of incr/decr: delta, initial, exptime (0xffffffff = do not create). */
export function arithExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const e = Buffer.alloc(20);
  e.writeBigUInt64BE(delta, 0);
  e.writeBigUInt64BE(initial, 8);
  e.writeUInt32BE(exptime >>> 0, 16);
  return e;
}

export function u32Extras(n: number): Buffer {
  const e = Buffer.alloc(4);
  e.writeUInt32BE(n >>> 0, 0);
  return e;
}

export interface BinResponse {
  magic: number;
  opcode: number;
  status: number;
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
  /** The whole packet as received. */
  raw: Buffer;
}

/** Parse one response at `offset`; undefined if the bytes there are not a complete packet yet. */
export function parseResponse(buf: Buffer, offset: number): BinResponse | undefined {
  if (buf.length - offset < HEADER_BYTES) return undefined;
  const keyLen = buf.readUInt16BE(offset + 2);
  const extLen = buf[offset + 4];
  const bodyLen = buf.readUInt32BE(offset + 8);
  const end = offset + HEADER_BYTES + bodyLen;
  if (buf.length < end) return undefined;
  const body = buf.subarray(offset + HEADER_BYTES, end);
  return {
    magic: buf[offset],
    opcode: buf[offset + 1],
    status: buf.readUInt16BE(offset + 6),
    opaque: buf.readUInt32BE(offset + 12),
    cas: buf.readBigUInt64BE(offset + 16),
    extras: body.subarray(0, extLen),
    key: body.subarray(extLen, extLen + keyLen),
    value: body.subarray(Math.min(extLen + keyLen, body.length)),
    raw: buf.subarray(offset, end),
  };
}
