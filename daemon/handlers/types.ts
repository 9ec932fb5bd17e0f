/**
 * Contract between a connection (daemon/connection.ts, owns the socket) and a protocol handler
 * (owns a streaming parser and turns commands into cache calls and reply bytes).
 *
 * Ordering invariant: replies reach the client in the order the handler passes them to `reply`,
 * whether each is ready now or still pending (a replicated write settles after commit).
 */
import type { MaybePromise } from '../cache/types';
import type { ServerContext } from '../context';
import type { WatchType } from '../../protocol/ascii/commands';

export interface ReplySink {
  /** Queue one reply (bytes now, or a promise of bytes). Empty buffers are allowed (quiet ops). */
  reply(bytes: MaybePromise<Buffer>): void;
  /** Close after everything queued so far has been written (quit, fatal protocol error). */
  closeAfterReplies(reason: string): void;
  /**
   * `watch`: answer OK after everything queued so far, then stream log lines of these kinds; the
   * connection reads no more commands. Absent where there is no connection (in-process tests).
   */
  watch?(types: readonly WatchType[]): void;
  /**
   * For a reply sent in many parts (metadump): resolves on a later turn of the event loop, once
   * this connection's unsent output is within its budget, with true; false if the connection
   * closed meanwhile (the rest need not be made). Absent where there is no connection.
   */
  outputRoom?(): Promise<boolean>;
  /**
   * The last reply given as a promise that has not settled yet, if any (the connection tracks it
   * anyway, so a handler keeping commands in order need not attach a reaction of its own to each).
   */
  pendingTail?(): Promise<Buffer> | undefined;
}

export interface ProtocolHandler {
  /** Consume bytes in arrival order. Never throws on bad input: errors become replies or a close. */
  onData(chunk: Buffer): void;
  /** Bytes buffered in the parser, for the connection's memory limit. */
  bufferedBytes(): number;
  /**
   * How many of the next input bytes the handler copies (or drops) without keeping any reference
   * to the input: the rest of a value it is gathering into its own block. The connection may feed
   * those from a buffer that the next read reuses.
   */
  copiesAhead?(): number;
}

export type HandlerFactory = (ctx: ServerContext, sink: ReplySink) => ProtocolHandler;
