/** Response encoders: each returns the exact bytes memcached 1.6.18 sends. */
import { HEADER_BYTES, RESPONSE_MAGIC, Status, STATUS_MESSAGE } from './constants';

export interface ResponseFields {
  /** Echo of the request's opcode (quiet opcodes stay quiet). */
  opcode: number;
  opaque: number;
  status?: number;
  cas?: bigint;
  extras?: Buffer;
  key?: Buffer;
  value?: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function encodeResponse(fields: ResponseFields): Buffer {
  const extras = fields.extras ?? EMPTY;
  const key = fields.key ?? EMPTY;
  const value = fields.value ?? EMPTY;
  const out = Buffer.allocUnsafe(HEADER_BYTES + extras.length + key.length + value.length);
  out[0] = RESPONSE_MAGIC;
  out[1] = fields.opcode;
  out.writeUInt16BE(key.length, 2);
  out[4] = extras.length;
  out[5] = 0; // data type: raw bytes
  out.writeUInt16BE(fields.status ?? Status.SUCCESS, 6);
  out.writeUInt32BE(extras.length + key.length + value.length, 8);
  out.writeUInt32BE(fields.opaque >>> 0, 12);
  out.writeBigUInt64BE(fields.cas ?? 0n, 16);
  let at = HEADER_BYTES;
  at += extras.copy(out, at);
  at += key.copy(out, at);
  value.copy(out, at);
  return out;
}

/** An error reply: the status, CAS 0 and memcached's text for it (or `message`). */
export function encodeError(opcode: number, opaque: number, status: number, message?: string): Buffer {
  const text = message ?? STATUS_MESSAGE.get(status) ?? '';
  return encodeResponse({ opcode, opaque, status, value: Buffer.from(text, 'latin1') });
}

/** A hit for get/getk/gat/gatk/touch: 4-byte flags extras, then the key (k forms), then the
 *  value (all but touch). */
export function encodeItem(
  opcode: number, opaque: number, item: { flags: number; cas: bigint; value: Buffer },
  key: Buffer | undefined, withValue: boolean,
): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(item.flags >>> 0, 0);
  return encodeResponse({ opcode, opaque, cas: item.cas, extras, key, value: withValue ? item.value : EMPTY });
}

/** A getk/gatk miss: status "not found" with the key as the only body (no message). */
export function encodeKeyMiss(opcode: number, opaque: number, key: Buffer): Buffer {
  return encodeResponse({ opcode, opaque, status: Status.KEY_ENOENT, key });
}

/** incr/decr success: the new value as a big-endian 64-bit body. */
export function encodeCounter(opcode: number, opaque: number, value: bigint, cas: bigint): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeBigUInt64BE(BigInt.asUintN(64, value), 0);
  return encodeResponse({ opcode, opaque, cas, value: body });
}

/** One stat packet per name/value pair, then the empty terminator packet. */
export function encodeStats(opcode: number, opaque: number, pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  const packets = pairs.map(([name, value]) =>
    encodeResponse({ opcode, opaque, key: Buffer.from(name, 'latin1'), value: Buffer.from(value, 'latin1') }));
  packets.push(encodeResponse({ opcode, opaque }));
  return Buffer.concat(packets);
}
