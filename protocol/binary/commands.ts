/** What the binary parser hands to the handler: one entry per request, in arrival order. */
import type { StatusCode } from './constants';
import type { RequestHeader } from './header';

/** A request whose lengths memcached accepts for its opcode; value bytes are fully read. */
export interface BinaryRequest {
  kind: 'request';
  header: RequestHeader;
  /** The loud opcode this request behaves as (GETQ -> GET); replies echo header.opcode. */
  command: number;
  /** A quiet opcode: success replies are suppressed (and misses, for the get family). */
  quiet: boolean;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
}

/** A store (set/add/replace/append/prepend) whose value exceeds the item size limit; the parser
 *  swallowed the value without buffering it. */
export interface BinaryTooLarge {
  kind: 'tooLarge';
  header: RequestHeader;
  command: number;
  key: Buffer;
}

/** A request memcached rejects with an error status (the parser already swallowed what
 *  memcached swallows); when `close` is set the connection ends after the reply. */
export interface BinaryError {
  kind: 'error';
  header: RequestHeader;
  status: StatusCode;
  close: boolean;
}

/** memcached closes without replying (bad magic, a request head larger than its read buffer). */
export interface BinaryClose {
  kind: 'close';
  reason: string;
}

export type BinaryCommand = BinaryRequest | BinaryTooLarge | BinaryError | BinaryClose;
