/**
 * One client connection: owns the socket, picks the protocol from the first byte (0x80 = binary,
 * anything else = ASCII text/meta, as memcached's auto-negotiation does), feeds the handler, and
 * writes replies in order.
 *
 * Invariants:
 * - Replies are written in the order the handler queued them, even when some are still pending.
 * - Replies ready during one 'data' event are written with one socket write (pipelining).
 * - After closeAfterReplies, no further input is processed, and the socket ends once the queue drains.
 * - Memory per connection is bounded (slow readers, pipelining storms): input reaches the handler
 *   in slices of at most SLICE_COMMANDS requests, and before each slice the output budget is
 *   checked: unsent reply bytes (socket buffer + ready replies behind a pending one), replies still
 *   pending (replicated writes) and the input held by commands queued behind them. Over budget, the
 *   rest of the chunk is held and the socket paused (the kernel's buffers then push back on the
 *   client, as memcached's do); input resumes once the budget is met again. So what one connection
 *   holds is at most its budget plus the replies of one slice, never a function of how much the
 *   client sent.
 */
import type * as net from 'net';
import type { MaybePromise } from './cache/types';
import type { ServerContext } from './context';
import type { HandlerFactory, ProtocolHandler, ReplySink } from './handlers/types';
import type { Logger } from './log';
import { InputMode, onSocketInput } from './socket-input';
import type { WatchedConn, WatchHub } from './watch';
import type { WatchType } from '../protocol/ascii/commands';

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
  /** Unsent reply bytes (socket buffer + ready replies not yet written) above which input stops. */
  maxPendingWriteBytes: number;
  /** Replies still pending (writes awaiting replication) at which input stops. */
  maxPendingReplies?: number;
  /** Input bytes retained by commands queued behind pending replies, above which input stops. */
  maxPendingInputBytes?: number;
  onClose: (conn: Connection) => void;
  /** `watch`: the server's log hub, and this client as conn_* lines name it. */
  watch?: { hub: WatchHub; conn: WatchedConn };
}

const BINARY_MAGIC_REQUEST = 0x80;
const WATCH_OK = Buffer.from('OK\r\n');
const WATCH_UNAVAILABLE = Buffer.from('ERROR\r\n');
/** Requests per slice: bounds the replies produced before the budget is checked again. */
export const SLICE_COMMANDS = 16;
const DEFAULT_MAX_PENDING_REPLIES = 256;
const DEFAULT_MAX_PENDING_INPUT_BYTES = 8 * 1024 * 1024;
/** Batches above this are written buffer by buffer (corked) instead of being copied into one. */
const CONCAT_MAX_BYTES = 64 * 1024;

/** A queued reply: ready bytes, or a pending promise and the input bytes its command retains. */
interface QueuedReply {
  ready?: Buffer;
  pending?: Promise<Buffer>;
  inputBytes: number;
}

export class Connection implements ReplySink {
  private handler?: ProtocolHandler;
  private binaryHandler?: ProtocolHandler;
  private readonly slicer = new InputSlicer(SLICE_COMMANDS);
  private readonly queue: QueuedReply[] = [];
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** Bytes of ready replies waiting in `queue` behind a pending one. */
  private queuedReadyBytes = 0;
  private pendingReplies = 0;
  /** The latest pending reply, until it settles (pendingTail). */
  private lastPending: Promise<Buffer> | undefined = undefined;
  private pendingInputBytes = 0;
  /** Input received but not yet fed to the handler (over budget); the socket is paused meanwhile. */
  private held: Buffer[] = [];
  private endAfterHeld = false;
  /** Held input is being fed: a nested resume must not feed later chunks before its rest. */
  private feeding = false;
  private inData = false;
  private closing = false;
  private closed = false;
  /** Last time a command began: a line ended (text), a request header arrived (binary). */
  lastCommandMs = Date.now();
  readonly id: number;
  /** How input is read (socket-input.ts); 'stream' only on a Node without the read-buffer fields. */
  readonly inputMode: InputMode;
  private static nextId = 1;
  /** `watch` asked for these; registered with the hub once the replies before its OK are written. */
  private watchTypes?: readonly WatchType[];
  private unwatch?: () => void;
  /** Why the connection ended, as memcached's conn_close lines say. */
  closeReason: 'normal' | 'idle_timeout' | 'error' = 'normal';

  constructor(readonly socket: net.Socket, private readonly opts: ConnectionOptions) {
    this.id = Connection.nextId++;
    socket.setNoDelay(true);
    this.inputMode = onSocketInput(socket, (chunk, transient) => this.onRead(chunk, transient));
    // Half-close from the client: answer what it sent, then close (memcached closes on EOF too).
    socket.on('end', () => {
      if (this.held.length > 0) this.endAfterHeld = true;
      else this.closeAfterReplies('client closed its side');
    });
    socket.on('error', (err) => {
      this.closeReason = 'error';
      opts.log.debug(`conn ${this.id}: ${err.message}`);
    });
    socket.on('close', () => {
      this.closed = true;
      this.unwatch?.();
      opts.onClose(this);
    });
    socket.on('drain', () => this.resumeIfWithinBudget());
  }

  /**
   * memcached's name for what this connection is doing, for `stats conns`: the one whose command
   * runs now is parsing, one in the middle of a value reads it, one with replies to send writes, the
   * rest wait for a command; one that has sent nothing yet is new, as memcached has it until its
   * first read.
   */
  get stateName(): 'conn_new_cmd' | 'conn_parse_cmd' | 'conn_nread' | 'conn_mwrite' | 'conn_read' {
    if (this.handler === undefined) return 'conn_new_cmd';
    if (this.inData || this.feeding) return 'conn_parse_cmd';
    if ((this.handler?.copiesAhead?.() ?? 0) > 0) return 'conn_nread';
    if (this.socket.writableLength > 0 || this.pendingReplies > 0 || this.queue.length > 0) return 'conn_mwrite';
    return 'conn_read';
  }

  /** The socket's file descriptor as `watch` names this client, where Node shows it. */
  get fd(): number | undefined {
    const fd = this.opts.watch?.conn.fd;
    return fd !== undefined && fd >= 0 ? fd : undefined;
  }

  get protocol(): 'ascii' | 'binary' | 'none' {
    if (!this.handler) return 'none';
    return this.handler === this.binaryHandler ? 'binary' : 'ascii';
  }

  /**
   * How long this connection has been idle, as memcached's idle_timeout counts it: 0 while it
   * still owes the client replies or holds unprocessed input (memcached does not reap a
   * connection that is writing either), else the time since its last command.
   */
  idleForMs(nowMs: number): number {
    // A watcher only listens (memcached's idle_timeout leaves watchers alone too).
    if (this.watchTypes !== undefined) return 0;
    if (this.closing || this.held.length > 0 || this.queue.length > 0 || this.batch.length > 0) return 0;
    if (this.socket.writableLength > 0) return 0;
    return nowMs - this.lastCommandMs;
  }

  /** Budget counters, for tests and diagnostics. */
  get backlog(): { unsentBytes: number; pendingReplies: number; pendingInputBytes: number; heldInputBytes: number } {
    return {
      unsentBytes: this.unsentBytes(),
      pendingReplies: this.pendingReplies,
      pendingInputBytes: this.pendingInputBytes,
      heldInputBytes: this.held.reduce((n, b) => n + b.length, 0),
    };
  }

  /**
   * One read. A `transient` chunk is a view of the shared read buffer (socket-input.ts): what the
   * handler copies anyway (the rest of a value it is gathering: copiesAhead) is fed from it as it
   * is, and only the rest is copied into memory of its own, since commands, held input and partial
   * lines keep references to what they are fed. A 100 KB set arriving in 64 KiB reads spent more on
   * allocating and copying those reads than on storing the value.
   */
  private onRead(chunk: Buffer, transient: boolean): void {
    if (!transient) return this.onData(chunk, false);
    let direct = 0;
    if (this.handler !== undefined && this.held.length === 0 && !this.closing && !this.closed) {
      direct = Math.min(this.handler.copiesAhead?.() ?? 0, chunk.length);
    }
    if (direct > 0) this.onData(chunk.subarray(0, direct), true);
    if (direct < chunk.length) this.onData(Buffer.from(chunk.subarray(direct)), false);
  }

  /** `transient`: `chunk` is valid only during this call (onRead), so whatever is held is copied. */
  private onData(chunk: Buffer, transient: boolean): void {
    if (this.closing || this.closed) return;
    this.opts.stats.bytesRead += chunk.length;
    if (!this.handler) {
      if (chunk[0] === BINARY_MAGIC_REQUEST) {
        this.handler = this.binaryHandler = this.opts.binary(this.opts.ctx, this);
      } else {
        this.handler = this.opts.ascii(this.opts.ctx, this);
      }
    }
    if (this.held.length > 0) {
      // Data that was already on its way when we paused: keep order behind what is held.
      this.held.push(transient ? Buffer.from(chunk) : chunk);
      this.socket.pause();
      return;
    }
    this.feeding = true;
    try {
      this.feed(chunk, transient);
    } finally {
      this.feeding = false;
    }
    this.flush();
  }

  /** Feed `data` slice by slice while within budget; hold the rest (a copy, if `transient`) and pause otherwise. */
  private feed(data: Buffer, transient = false): void {
    const protocol = this.protocol === 'binary' ? 'binary' : 'ascii';
    let pos = 0;
    while (pos < data.length && !this.closing && !this.closed) {
      if (this.overBudget()) {
        this.flushAfterFeed(); // ready replies move into the socket, which may take them at once
        if (this.overBudget()) {
          this.held.unshift(transient ? Buffer.from(data.subarray(pos)) : data.subarray(pos));
          this.socket.pause();
          return;
        }
      }
      const end = this.slicer.next(data, pos, protocol);
      if (this.slicer.lastCommands > 0) this.lastCommandMs = Date.now();
      this.feedSlice(data.subarray(pos, end));
      pos = end;
    }
  }

  private feedSlice(slice: Buffer): void {
    this.inData = true;
    // While inData nothing leaves the queue (flush waits), so this slice's replies are the tail.
    const queuedBefore = this.queue.length;
    try {
      this.handler!.onData(slice);
    } catch (err) {
      // A handler bug must not take the daemon down with it; this client alone is dropped.
      this.opts.log.info(`conn ${this.id}: internal error, closing connection: ${(err as Error).stack ?? err}`);
      this.abort();
      return;
    } finally {
      this.inData = false;
    }
    if (this.queue.length > queuedBefore) this.chargeInput(slice.length, queuedBefore);
  }

  /** Commands still waiting hold on to their input (values): charge it to their pending replies. */
  private chargeInput(sliceBytes: number, from: number): void {
    let waiting = 0;
    for (let i = from; i < this.queue.length; i++) if (this.queue[i].pending !== undefined) waiting++;
    if (waiting === 0) return;
    // Whole bytes: the first waiting reply also carries the remainder, so settling them all
    // brings the total back to exactly 0.
    const share = Math.floor(sliceBytes / waiting);
    let remainder = sliceBytes - share * waiting;
    for (let i = from; i < this.queue.length; i++) {
      if (this.queue[i].pending === undefined) continue;
      this.queue[i].inputBytes = share + remainder;
      remainder = 0;
    }
    this.pendingInputBytes += sliceBytes;
  }

  pendingTail(): Promise<Buffer> | undefined {
    return this.lastPending;
  }

  reply(bytes: MaybePromise<Buffer>): void {
    if (this.closed) return;
    if (bytes instanceof Promise) {
      const entry: QueuedReply = { pending: bytes, inputBytes: 0 };
      this.queue.push(entry);
      this.pendingReplies++;
      this.lastPending = bytes;
      bytes.then(
        (value) => {
          if (this.lastPending === bytes) this.lastPending = undefined;
          entry.ready = value;
          entry.pending = undefined;
          this.pendingReplies--;
          this.pendingInputBytes -= entry.inputBytes;
          this.queuedReadyBytes += value.length;
          this.flush();
        },
        (err) => {
          if (this.lastPending === bytes) this.lastPending = undefined;
          // Handlers turn failures into protocol replies; a rejection here is a bug: drop the client.
          this.opts.log.info(`conn ${this.id}: internal error, closing connection: ${(err as Error)?.stack ?? err}`);
          this.abort();
        },
      );
      return;
    }
    if (this.queue.length === 0) {
      if (bytes.length > 0) this.addToBatch(bytes);
      if (!this.inData) this.flush();
    } else {
      this.queue.push({ ready: bytes, inputBytes: 0 });
      this.queuedReadyBytes += bytes.length;
    }
  }

  watch(types: readonly WatchType[]): void {
    if (this.opts.watch === undefined) {
      this.reply(WATCH_UNAVAILABLE);
      return;
    }
    this.held = [];
    this.reply(WATCH_OK);
    this.watchTypes = types;
    if (!this.inData) this.flush();
  }

  /** Once everything before the watch's OK is written, log lines may follow it. */
  private startWatching(): void {
    const watch = this.opts.watch!;
    this.opts.log.debug(`conn ${this.id}: watching ${this.watchTypes!.join(' ')}`);
    this.unwatch = watch.hub.add(this.watchTypes!, {
      pendingBytes: () => this.socket.writableLength,
      write: (text) => {
        this.opts.stats.bytesWritten += text.length;
        this.socket.write(text);
      },
    });
  }

  /** ReplySink.outputRoom: judged on the next turn, after the reply just made was written. */
  outputRoom(): Promise<boolean> {
    return new Promise((resolve) => {
      const judge = (): void => {
        if (this.closed) resolve(false);
        else if (this.socket.writableLength <= this.opts.maxPendingWriteBytes) resolve(true);
        else {
          const settle = (): void => {
            this.socket.off('drain', settle);
            this.socket.off('close', settle);
            judge();
          };
          this.socket.on('drain', settle);
          this.socket.on('close', settle);
        }
      };
      setImmediate(judge);
    });
  }

  closeAfterReplies(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.held = [];
    this.opts.log.debug(`conn ${this.id}: closing (${reason})`);
    if (!this.inData) this.flush();
  }

  /** Write every reply that is ready, in order; stop at the first pending one. */
  private flush(): void {
    if (this.closed) return;
    while (this.queue.length > 0 && this.queue[0].pending === undefined) {
      const head = this.queue.shift()!;
      this.queuedReadyBytes -= head.ready!.length;
      if (head.ready!.length > 0) this.addToBatch(head.ready!);
    }
    if (this.batch.length > 0) this.writeBatch();
    if (this.watchTypes !== undefined && this.unwatch === undefined && this.queue.length === 0 && !this.closing) this.startWatching();
    if (this.closing) {
      if (this.queue.length === 0) this.socket.end();
      return;
    }
    if (!this.inData) this.resumeIfWithinBudget();
  }

  private addToBatch(bytes: Buffer): void {
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
  }

  private writeBatch(): void {
    const parts = this.batch;
    const total = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.opts.stats.bytesWritten += total;
    if (parts.length === 1 || total <= CONCAT_MAX_BYTES) {
      this.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts, total));
      return;
    }
    // Large replies are not copied again: the socket takes them as they are, in one writev.
    this.socket.cork();
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
  }

  private unsentBytes(): number {
    return this.socket.writableLength + this.batchBytes + this.queuedReadyBytes;
  }

  private overBudget(): boolean {
    return this.unsentBytes() > this.opts.maxPendingWriteBytes
      || this.pendingReplies >= (this.opts.maxPendingReplies ?? DEFAULT_MAX_PENDING_REPLIES)
      || this.pendingInputBytes > (this.opts.maxPendingInputBytes ?? DEFAULT_MAX_PENDING_INPUT_BYTES);
  }

  /** Called when output drained or a pending reply settled: feed held input, then read again. */
  private resumeIfWithinBudget(): void {
    if (this.feeding || this.inData || this.closing || this.closed) return;
    if (this.held.length === 0 && !this.socket.isPaused()) return;
    this.feeding = true;
    try {
      while (this.held.length > 0 && !this.closing && !this.closed && !this.overBudget()) this.feed(this.held.shift()!);
    } finally {
      this.feeding = false;
    }
    this.flushAfterFeed();
    if (this.held.length > 0 || this.closing || this.closed) return;
    if (this.endAfterHeld) {
      this.closeAfterReplies('client closed its side');
      return;
    }
    if (!this.overBudget()) this.socket.resume();
  }

  /** Write what the fed input produced (flush() itself would re-enter resumeIfWithinBudget). */
  private flushAfterFeed(): void {
    this.inData = true;
    try {
      this.flush();
    } finally {
      this.inData = false;
    }
  }

  private abort(): void {
    this.closeReason = 'error';
    this.queue.length = 0;
    this.batch = [];
    this.batchBytes = 0;
    this.held = [];
    this.closing = true;
    this.socket.destroy();
  }

  destroy(reason: 'normal' | 'idle_timeout' | 'error' = 'normal'): void {
    this.closeReason = reason;
    this.socket.destroy();
  }
}

/**
 * Cuts a connection's input into slices of at most `maxCommands` requests, without parsing them:
 * ASCII slices end after the n-th newline (a request needs at least one; value blocks may hold
 * more, which only makes a slice smaller); binary slices follow each frame's body length, so the
 * framing state carries over from one chunk to the next. Pure: bytes in, offsets out.
 */
export class InputSlicer {
  /** Bytes of the current binary frame still to pass; 0 at a frame start. */
  private frameLeft = 0;
  /** The start of a binary header split across chunks (fewer than BODY_LENGTH_END bytes). */
  private headerStart: Buffer = Buffer.alloc(0);
  /** Requests that began in the last slice (newlines, or binary headers read). */
  lastCommands = 0;

  constructor(private readonly maxCommands: number) {}

  /** End offset (exclusive) of the slice of `data` that starts at `pos`. */
  next(data: Buffer, pos: number, protocol: 'ascii' | 'binary'): number {
    return protocol === 'ascii' ? this.nextAscii(data, pos) : this.nextBinary(data, pos);
  }

  private nextAscii(data: Buffer, pos: number): number {
    let end = pos;
    this.lastCommands = 0;
    while (this.lastCommands < this.maxCommands) {
      const nl = data.indexOf(0x0a, end);
      if (nl < 0) return data.length;
      this.lastCommands++;
      end = nl + 1;
    }
    return end;
  }

  private nextBinary(data: Buffer, pos: number): number {
    let p = pos;
    let frames = 0;
    this.lastCommands = 0;
    while (p < data.length && frames < this.maxCommands) {
      if (this.frameLeft === 0) {
        if (this.headerStart.length === 0 && data.length - p >= BODY_LENGTH_END) {
          this.frameLeft = BINARY_HEADER_BYTES + data.readUInt32BE(p + BODY_LENGTH_OFFSET);
        } else {
          const take = Math.min(BODY_LENGTH_END - this.headerStart.length, data.length - p);
          this.headerStart = Buffer.concat([this.headerStart, data.subarray(p, p + take)]);
          p += take;
          if (this.headerStart.length < BODY_LENGTH_END) return p;
          this.frameLeft = BINARY_HEADER_BYTES + this.headerStart.readUInt32BE(BODY_LENGTH_OFFSET) - BODY_LENGTH_END;
          this.headerStart = Buffer.alloc(0);
        }
        this.lastCommands++;
      }
      const take = Math.min(this.frameLeft, data.length - p);
      p += take;
      this.frameLeft -= take;
      if (this.frameLeft === 0) frames++;
    }
    return p;
  }
}

const BINARY_HEADER_BYTES = 24;
/** The 32-bit total body length sits at bytes 8..11 of a binary request header. */
const BODY_LENGTH_OFFSET = 8;
const BODY_LENGTH_END = 12;
