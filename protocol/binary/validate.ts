/**
 * What memcached 1.6.18 does with a request once its header, extras and key are read: the length
 * rules of dispatch_bin_command, in its order. Pure: decides, reads nothing more.
 *
 * memcached consumes header+extras+key before dispatching; whatever else the body announced is
 * consumed only by the commands that read a value (stores), or skipped ("swallowed") by the
 * errors that say so. Everything else stays in the stream and is parsed as the next request: a
 * STAT or TOUCH whose body is longer than its key and extras leaves those bytes to be read as a
 * header. That is memcached's behaviour and we keep it byte for byte.
 */
import { Opcode, QUIET_TO_LOUD, Status, StatusCode } from './constants';
import type { RequestHeader } from './header';

export type FramePlan =
  /** Dispatch after reading `valueBytes` more bytes. */
  | { action: 'request'; command: number; quiet: boolean; valueBytes: number }
  /** Reply "Too large." after skipping `swallowBytes`. */
  | { action: 'tooLarge'; command: number; swallowBytes: number }
  /** Reply with `status` after skipping `swallowBytes`; then close if `close`. */
  | { action: 'error'; status: StatusCode; close: boolean; swallowBytes: number };

export interface FrameLimits {
  maxKeyBytes: number;
  /** Largest storable value for this key length and flags (memcached's item_size_ok). */
  maxValueBytes(keyBytes: number, flags: number): number;
}

const INT32_LIMIT = 2 ** 31;

/** `extras` holds exactly header.extrasBytes bytes. */
export function planFrame(header: RequestHeader, extras: Buffer, limits: FrameLimits): FramePlan {
  const { keyBytes, extrasBytes, bodyBytes } = header;
  if (keyBytes + extrasBytes > bodyBytes) {
    return { action: 'error', status: Status.UNKNOWN_COMMAND, close: true, swallowBytes: 0 };
  }
  if (keyBytes > limits.maxKeyBytes) return invalid();

  const loud = QUIET_TO_LOUD.get(header.opcode);
  const command = loud ?? header.opcode;
  const quiet = loud !== undefined;
  const request = (valueBytes = 0): FramePlan => ({ action: 'request', command, quiet, valueBytes });
  const noBody = extrasBytes === 0 && keyBytes === 0 && bodyBytes === 0;

  switch (command) {
    case Opcode.VERSION:
    case Opcode.NOOP:
    case Opcode.QUIT:
      return noBody ? request() : invalid();
    case Opcode.FLUSH:
      return keyBytes === 0 && bodyBytes === extrasBytes && (extrasBytes === 0 || extrasBytes === 4)
        ? request()
        : invalid();
    case Opcode.SET:
    case Opcode.ADD:
    case Opcode.REPLACE:
      if (!(extrasBytes === 8 && keyBytes !== 0 && bodyBytes >= keyBytes + 8)) return invalid();
      return sizedStore(command, quiet, bodyBytes - keyBytes - 8, keyBytes, extras.readUInt32BE(0), limits);
    case Opcode.GET:
    case Opcode.GETK:
      return extrasBytes === 0 && bodyBytes === keyBytes && keyBytes > 0 ? request() : invalid();
    case Opcode.DELETE:
      return keyBytes > 0 && extrasBytes === 0 && bodyBytes === keyBytes ? request() : invalid();
    case Opcode.INCREMENT:
    case Opcode.DECREMENT:
      return keyBytes > 0 && extrasBytes === 20 && bodyBytes === keyBytes + 20 ? request() : invalid();
    case Opcode.APPEND:
    case Opcode.PREPEND:
      if (!(keyBytes > 0 && extrasBytes === 0)) return invalid();
      return sizedStore(command, quiet, bodyBytes - keyBytes, keyBytes, 0, limits);
    case Opcode.STAT:
      return extrasBytes === 0 ? request() : invalid();
    case Opcode.SASL_LIST_MECHS:
      // Without SASL (-S) memcached answers the SASL opcodes as unknown commands.
      return noBody ? unknown(bodyBytes - keyBytes) : invalid();
    case Opcode.SASL_AUTH:
    case Opcode.SASL_STEP:
      return extrasBytes === 0 && keyBytes !== 0 ? unknown(bodyBytes - keyBytes) : invalid();
    case Opcode.TOUCH:
    case Opcode.GAT:
    case Opcode.GATK:
      return extrasBytes === 4 && keyBytes !== 0 ? request() : invalid();
    default:
      // memcached swallows the whole announced body here although header, extras and key were
      // already consumed: the extra bytes come out of the next request.
      return unknown(bodyBytes);
  }
}

function invalid(): FramePlan {
  return { action: 'error', status: Status.EINVAL, close: true, swallowBytes: 0 };
}

function unknown(swallowBytes: number): FramePlan {
  // The swallow count is a C int in memcached: 2^31 or more is negative and swallows nothing.
  return { action: 'error', status: Status.UNKNOWN_COMMAND, close: false, swallowBytes: swallowBytes >= INT32_LIMIT ? 0 : swallowBytes };
}

function sizedStore(
  command: number, quiet: boolean, valueBytes: number, keyBytes: number, flags: number, limits: FrameLimits,
): FramePlan {
  // memcached holds the value length in a C int: a length of 2^31 or more is negative there, so it
  // is refused as too large but nothing is swallowed (the following bytes are parsed as requests).
  if (valueBytes >= INT32_LIMIT) return { action: 'tooLarge', command, swallowBytes: 0 };
  if (valueBytes > limits.maxValueBytes(keyBytes, flags)) return { action: 'tooLarge', command, swallowBytes: valueBytes };
  return { action: 'request', command, quiet, valueBytes };
}
