/** Reply helpers shared by the binary command handlers: the request's opcode and opaque echoed. */
import type { BinaryRequest } from '../../protocol/binary/commands';
import { encodeError, encodeResponse } from '../../protocol/binary/encode';

export const NO_REPLY = Buffer.alloc(0);

/** A success reply, suppressed for quiet opcodes. */
export function success(req: BinaryRequest, fields: { cas?: bigint; value?: Buffer } = {}): Buffer {
  if (req.quiet) return NO_REPLY;
  return encodeResponse({ opcode: req.header.opcode, opaque: req.header.opaque, ...fields });
}

/** Errors are sent for quiet opcodes too (only get-family misses are silent). */
export function failure(req: { header: { opcode: number; opaque: number } }, status: number, message?: string): Buffer {
  return encodeError(req.header.opcode, req.header.opaque, status, message);
}
