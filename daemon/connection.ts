/**
 * One client connection: owns the socket, picks the protocol from the first byte (0x80 = binary,
 * anything else = ASCII text/meta, as memcached's auto-negotiation does), feeds the handler, and
 * writes replies in order.
 *
 * Invariants:
 * - Replies are written in the order the handler queued them, even when some are still pending.
 * - Replies ready during one 'data' event are written with one socket write (pipelining).
 * - After closeAfterReplies, no further input is processed, and the socket ends once the queue drains.
 * - Memory per connection is bounded: the parser bounds its own buffer, and reading pauses while
 *   the socket's write buffer exceeds `maxPendingWriteBytes` (slow readers cannot grow it).
 */
import type * as net from 'net';
import type { MaybePromise } from './cache/types';
import type { ServerContext } from './context';
import type { HandlerFactory, ProtocolHandler, ReplySink } from './handlers/types';
import type { Logger } from './log';

export interface ConnectionStats {
  bytesRead: number;
  bytesWritten: number;
}

export interface ConnectionOptions {
  ascii: HandlerFactory;
  binary: HandlerFactory;
  ctx: ServerContext;
  log: Logger;
  stats: ConnectionStats;
  maxPendingWriteBytes: number;
  onClose: (conn: Connection) => void;
}

const BINARY_MAGIC_REQUEST = 0x80;

export class Connection implements ReplySink {
  private handler?: ProtocolHandler;
  private readonly queue: MaybePromise<Buffer>[] = [];
  private batch: Buffer[] = [];
  private inData = false;
  private closing = false;
  private closed = false;
  lastCommandMs = Date.now();
  readonly id: number;
  private static nextId = 1;

  constructor(readonly socket: net.Socket, private readonly opts: ConnectionOptions) {
    this.id = Connection.nextId++;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // Half-close from the client: answer what it sent, then close (memcached closes on EOF too).
    socket.on('end', () => this.closeAfterReplies('client closed its side'));
    socket.on('error', (err) => opts.log.debug(`conn ${this.id}: ${err.message}`));
    socket.on('close', () => {
      this.closed = true;
      opts.onClose(this);
    });
    socket.on('drain', () => {
      if (!this.closing) socket.resume();
    });
  }

  get protocol(): 'ascii' | 'binary' | 'none' {
    if (!this.handler) return 'none';
    return this.handler === this.binaryHandler ? 'binary' : 'ascii';
  }
  private binaryHandler?: ProtocolHandler;

  private onData(chunk: Buffer): void {
    if (this.closing || this.closed) return;
    this.opts.stats.bytesRead += chunk.length;
    this.lastCommandMs = Date.now();
    if (!this.handler) {
      if (chunk[0] === BINARY_MAGIC_REQUEST) {
        this.handler = this.binaryHandler = this.opts.binary(this.opts.ctx, this);
      } else {
        this.handler = this.opts.ascii(this.opts.ctx, this);
      }
    }
    this.inData = true;
    try {
      this.handler.onData(chunk);
    } catch (err) {
      // A handler bug must not take the daemon down with it; this client alone is dropped.
      this.opts.log.info(`conn ${this.id}: internal error, closing connection: ${(err as Error).stack ?? err}`);
      this.queue.length = 0;
      this.batch = [];
      this.closing = true;
      this.socket.destroy();
      return;
    } finally {
      this.inData = false;
    }
    this.flush();
  }

  reply(bytes: MaybePromise<Buffer>): void {
    if (this.closed) return;
    if (bytes instanceof Promise) {
      this.queue.push(bytes);
      bytes.then(
        (value) => {
          settledReplies.set(bytes, value);
          this.flush();
        },
        (err) => {
          // Handlers turn failures into protocol replies; a rejection here is a bug: drop the client.
          this.opts.log.info(`conn ${this.id}: internal error, closing connection: ${(err as Error)?.stack ?? err}`);
          this.closing = true;
          this.socket.destroy();
        },
      );
      return;
    }
    if (this.queue.length === 0) {
      if (bytes.length > 0) this.batch.push(bytes);
      if (!this.inData) this.flush();
    } else {
      this.queue.push(bytes);
    }
  }

  closeAfterReplies(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.opts.log.debug(`conn ${this.id}: closing (${reason})`);
    if (!this.inData) this.flush();
  }

  /** Write every reply that is ready, in order; stop at the first pending one. */
  private flush(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head instanceof Promise) {
        const settled = settledReplies.get(head);
        if (settled === undefined) break;
        this.queue.shift();
        if (settled.length > 0) this.batch.push(settled);
      } else {
        this.queue.shift();
        if (head.length > 0) this.batch.push(head);
      }
    }
    if (this.batch.length > 0) {
      const out = this.batch.length === 1 ? this.batch[0] : Buffer.concat(this.batch);
      this.batch = [];
      this.opts.stats.bytesWritten += out.length;
      const below = this.socket.write(out);
      if (!below && this.socket.writableLength > this.opts.maxPendingWriteBytes) this.socket.pause();
    }
    if (this.closing && this.queue.length === 0) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Settled replies are remembered here so flush() can take them synchronously, in order. */
const settledReplies = new WeakMap<Promise<Buffer>, Buffer>();
