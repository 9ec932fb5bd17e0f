/**
 * Memcached binary protocol numbers (protocol_binary.h of memcached 1.6.18), and the limits of
 * memcached's binary reader that shape what a peer observes on the wire.
 */

export const REQUEST_MAGIC = 0x80;
export const RESPONSE_MAGIC = 0x81;
export const HEADER_BYTES = 24;

/**
 * memcached reads a request's header, extras and key into one read buffer of this size; a request
 * whose header+extras+key does not fit is never dispatched: once the buffer is full the
 * connection is closed without a reply.
 */
export const READ_BUFFER_BYTES = 16384;

export const Opcode = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  REPLACE: 0x03,
  DELETE: 0x04,
  INCREMENT: 0x05,
  DECREMENT: 0x06,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  GETK: 0x0c,
  GETKQ: 0x0d,
  APPEND: 0x0e,
  PREPEND: 0x0f,
  STAT: 0x10,
  SETQ: 0x11,
  ADDQ: 0x12,
  REPLACEQ: 0x13,
  DELETEQ: 0x14,
  INCREMENTQ: 0x15,
  DECREMENTQ: 0x16,
  QUITQ: 0x17,
  FLUSHQ: 0x18,
  APPENDQ: 0x19,
  PREPENDQ: 0x1a,
  VERBOSITY: 0x1b,
  TOUCH: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SASL_LIST_MECHS: 0x20,
  SASL_AUTH: 0x21,
  SASL_STEP: 0x22,
  GATK: 0x23,
  GATKQ: 0x24,
} as const;

/** The loud opcode each quiet opcode behaves as (memcached rewrites c->cmd the same way). */
export const QUIET_TO_LOUD: ReadonlyMap<number, number> = new Map([
  [Opcode.SETQ, Opcode.SET],
  [Opcode.ADDQ, Opcode.ADD],
  [Opcode.REPLACEQ, Opcode.REPLACE],
  [Opcode.DELETEQ, Opcode.DELETE],
  [Opcode.INCREMENTQ, Opcode.INCREMENT],
  [Opcode.DECREMENTQ, Opcode.DECREMENT],
  [Opcode.QUITQ, Opcode.QUIT],
  [Opcode.FLUSHQ, Opcode.FLUSH],
  [Opcode.APPENDQ, Opcode.APPEND],
  [Opcode.PREPENDQ, Opcode.PREPEND],
  [Opcode.GETQ, Opcode.GET],
  [Opcode.GETKQ, Opcode.GETK],
  [Opcode.GATQ, Opcode.GAT],
  [Opcode.GATKQ, Opcode.GATK],
]);

export const Status = {
  SUCCESS: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  AUTH_ERROR: 0x20,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
  /** The protocol's "Internal error": here, a replicated write whose outcome is unknown. */
  EINTERNAL: 0x84,
  /** The protocol's "Temporary failure": here, a replicated write refused before it took effect (no leader in time). */
  ETMPFAIL: 0x86,
} as const;

export type StatusCode = (typeof Status)[keyof typeof Status];

/** The body memcached sends with each error status when it has no more specific text. */
export const STATUS_MESSAGE: ReadonlyMap<number, string> = new Map<number, string>([
  [Status.KEY_ENOENT, 'Not found'],
  [Status.KEY_EEXISTS, 'Data exists for key.'],
  [Status.E2BIG, 'Too large.'],
  [Status.EINVAL, 'Invalid arguments'],
  [Status.NOT_STORED, 'Not stored.'],
  [Status.DELTA_BADVAL, 'Non-numeric server-side value for incr or decr'],
  [Status.AUTH_ERROR, 'Auth failure.'],
  [Status.UNKNOWN_COMMAND, 'Unknown command'],
  [Status.ENOMEM, 'Out of memory'],
]);

/** Binary incr/decr expiration meaning "fail with Not found instead of creating the item". */
export const INCR_NO_CREATE_EXPTIME = 0xffffffff;
