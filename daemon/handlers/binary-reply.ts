/** Reply helpers shared by the binary command handlers: the request's opcode and opaque echoed. */
import type { BinaryRequest } from '../../protocol/binary/commands';
import { Status } from '../../protocol/binary/constants';
import { encodeError, encodeResponse } from '../../protocol/binary/encode';

export const NO_REPLY = Buffer.alloc(0);

/** A success reply, suppressed for quiet opcodes. */
export function success(req: BinaryRequest, fields: { cas?: bigint; value?: Buffer } = {}): Buffer {
  if (req.quiet) return NO_REPLY;
  return encodeResponse({ opcode: req.header.opcode, opaque: req.header.opaque, ...fields });
}

/**
 * A rejected engine call (in a cluster: no leader within the write deadline, a backlog that stayed
 * full, a write whose outcome is unknown after a leader loss) as the binary error a client can act
 * on, with the reason as its message, as the text protocol's SERVER_ERROR line carries it. Status
 * "Internal error" when the write may have taken effect, "Temporary failure" when it provably did
 * not (a retry is safe). Sent for quiet opcodes too, as every error is.
 */
export function engineFailure(req: { header: { opcode: number; opaque: number } }, err: unknown): Buffer {
  const e = err as Error & { outcomeUnknown?: boolean };
  const message = e instanceof Error ? e.message : String(err);
  return failure(req, e?.outcomeUnknown === true ? Status.EINTERNAL : Status.ETMPFAIL, message);
}

/** Errors are sent for quiet opcodes too (only get-family misses are silent). */
export function failure(req: { header: { opcode: number; opaque: number } }, status: number, message?: string): Buffer {
  return encodeError(req.header.opcode, req.header.opaque, status, message);
}
