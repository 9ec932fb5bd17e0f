/**
 * One client connection of the load generator: a raw TCP socket, a FIFO of the requests in
 * flight, and the reply scanner. Replies arrive in request order (memcached answers each
 * connection in order), so the i-th reply completes the i-th request still in the FIFO.
 *
 * The socket reads into one preallocated buffer (`onread`), requests queued with `enqueue` go out
 * in one write per `flush`, and the clock is read once per received chunk: the per-request cost
 * is a few array stores, so the generator saturates the server before itself.
 */
import * as net from 'net';
import { performance } from 'perf_hooks';
import { ReplyScanner } from './wire/replies';
import { EncodedRequests, Op, WireProtocol, requestBytes, writeRequest } from './wire/requests';

export interface ConnectionEvents {
  /** One reply, in order: the request's op, the reply kind (R_*), its start time and now (ms). */
  onReply(op: number, kind: number, startMs: number, nowMs: number): void;
  /** After a chunk's replies were handled: room to send more. */
  onDrained(conn: LoadConnection): void;
  /** The socket failed or the stream desynced; `lostRequests` requests will never be answered. */
  onBroken(conn: LoadConnection, reason: string, lostRequests: number): void;
}

const READ_BUFFER_BYTES = 256 * 1024;

export class LoadConnection {
  /** Requests written or queued and not yet answered. Never exceeds `capacity`. */
  outstanding = 0;
  /** Open-loop only: the intended send time of this connection's next request (ms). */
  nextIntendedMs = 0;
  reconnects = 0;
  private socket: net.Socket | null = null;
  /** A socket still connecting; `close` destroys it too, so no socket outlives the run. */
  private connecting: net.Socket | null = null;
  private scanner: ReplyScanner;
  private readonly ops: Uint8Array;
  private readonly keys: Uint32Array;
  private readonly startMs: Float64Array;
  private readonly sentMs: Float64Array;
  private head = 0;
  /** Requests at the FIFO's tail that were enqueued but not yet written. */
  private unflushed = 0;
  private unflushedBytes = 0;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

  constructor(
    readonly id: number,
    private readonly host: string,
    private readonly port: number,
    private readonly protocol: WireProtocol,
    private readonly enc: EncodedRequests,
    readonly capacity: number,
    private readonly events: ConnectionEvents,
  ) {
    this.ops = new Uint8Array(capacity);
    this.keys = new Uint32Array(capacity);
    this.startMs = new Float64Array(capacity);
    this.sentMs = new Float64Array(capacity);
    this.scanner = new ReplyScanner(protocol);
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  connect(timeoutMs: number): Promise<void> {
    this.scanner = new ReplyScanner(this.protocol);
    this.head = 0;
    this.outstanding = 0;
    this.unflushed = 0;
    this.unflushedBytes = 0;
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: this.host,
        port: this.port,
        noDelay: true,
        onread: { buffer: this.readBuffer, callback: (n: number, buf: Uint8Array) => { this.onRead(n, buf as Buffer); return true; } },
      });
      this.connecting = socket;
      const timer = setTimeout(() => {
        if (this.connecting === socket) this.connecting = null;
        socket.destroy();
        reject(new Error(`connect to ${this.host}:${this.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        if (this.connecting !== socket) { socket.destroy(); reject(new Error('connection closed while connecting')); return; }
        this.connecting = null;
        this.socket = socket;
        resolve();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (this.socket !== socket) {
          if (this.connecting === socket) this.connecting = null;
          reject(err);
          return;
        }
        this.breakWith(`connection: ${err.message}`);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) this.breakWith('connection: closed by server');
        else reject(new Error(`connection to ${this.host}:${this.port} closed before it was established`)); // no-op once resolved
      });
    });
  }

  /** Queue one request (sent by the next `flush`). The caller keeps outstanding < capacity. */
  enqueue(op: Op, key: number, startMs: number): void {
    const slot = (this.head + this.outstanding) % this.capacity;
    this.ops[slot] = op;
    this.keys[slot] = key;
    this.startMs[slot] = startMs;
    this.outstanding++;
    this.unflushed++;
    this.unflushedBytes += requestBytes(this.enc, op, key);
  }

  flush(): void {
    if (this.unflushed === 0 || this.socket === null) return;
    const out = Buffer.allocUnsafe(this.unflushedBytes);
    const nowMs = performance.now();
    let offset = 0;
    for (let i = this.outstanding - this.unflushed; i < this.outstanding; i++) {
      const slot = (this.head + i) % this.capacity;
      this.sentMs[slot] = nowMs;
      offset = writeRequest(this.enc, this.ops[slot] as Op, this.keys[slot], out, offset);
    }
    this.unflushed = 0;
    this.unflushedBytes = 0;
    this.socket.write(out);
  }

  /** When the oldest unanswered request was written (ms), or Infinity if none is in flight. */
  oldestSentMs(): number {
    const written = this.outstanding - this.unflushed;
    return written > 0 ? this.sentMs[this.head] : Infinity;
  }

  /** Drop the socket without reporting (end of run, or after a timeout the caller counted). */
  close(): void {
    const s = this.socket;
    this.socket = null;
    this.connecting?.destroy();
    this.connecting = null;
    this.outstanding = 0;
    this.unflushed = 0;
    this.unflushedBytes = 0;
    s?.destroy();
  }

  private breakWith(reason: string): void {
    const lost = this.outstanding;
    this.close();
    this.events.onBroken(this, reason, lost);
  }

  private onRead(n: number, buf: Buffer): void {
    if (this.socket === null) return;
    const replies = this.scanner.scan(buf.subarray(0, n));
    if (replies > 0) {
      const nowMs = performance.now();
      const kinds = this.scanner.kinds;
      const answerable = Math.min(replies, this.outstanding - this.unflushed);
      for (let i = 0; i < answerable; i++) {
        const slot = this.head;
        this.head = (this.head + 1) % this.capacity;
        this.outstanding--;
        this.events.onReply(this.ops[slot], kinds[i], this.startMs[slot], nowMs);
      }
      if (answerable < replies) { this.breakWith('unexpected_reply: more replies than requests'); return; }
    }
    if (this.scanner.desynced) { this.breakWith('unexpected_reply: unintelligible reply'); return; }
    this.events.onDrained(this);
  }
}
