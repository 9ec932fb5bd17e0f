/**
 * A raw TCP client for tests: write bytes (optionally in separate pieces, to cross TCP chunk
 * boundaries), then wait until the accumulated reply satisfies a predicate, the peer closes, or a
 * timeout passes. Never waits unboundedly.
 */
import * as net from 'net';

export interface ReadOutcome {
  bytes: Buffer;
  closed: boolean;
  timedOut: boolean;
}

export class WireConn {
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private wake: (() => void) | undefined;
  closed = false;
  error: Error | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.received.push(d);
      this.receivedBytes += d.length;
      this.wake?.();
    });
    socket.on('error', (e) => { this.error = e; });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(port: number, timeoutMs = 5000): Promise<WireConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${port} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(new WireConn(s)); });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  /** Write pieces one after another, each flushed to the kernel before the next. */
  async write(pieces: Buffer[]): Promise<void> {
    for (const p of pieces) {
      if (this.closed || this.socket.destroyed) return;
      if (p.length === 0) continue;
      await new Promise<void>((resolve) => this.socket.write(p, () => resolve()));
    }
  }

  /** Everything received and not yet taken. */
  peek(): Buffer {
    if (this.received.length > 1) this.received = [Buffer.concat(this.received)];
    return this.received[0] ?? Buffer.alloc(0);
  }

  /** Drop the first n received bytes. */
  take(n: number): Buffer {
    const all = this.peek();
    const head = all.subarray(0, n);
    this.received = n < all.length ? [all.subarray(n)] : [];
    this.receivedBytes = all.length - n;
    return head;
  }

  /** Wait until done(received) is true, the peer closed, or timeoutMs passed. Consumes nothing. */
  async readUntil(done: (received: Buffer) => boolean, timeoutMs: number): Promise<ReadOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const bytes = this.peek();
      if (done(bytes)) return { bytes, closed: this.closed, timedOut: false };
      if (this.closed) return { bytes, closed: true, timedOut: false };
      const left = deadline - Date.now();
      if (left <= 0) return { bytes, closed: false, timedOut: true };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.wake = undefined; resolve(); }, left);
        this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
      });
    }
  }

  /** Wait for the peer to close (or timeout); true if it closed. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const r = await this.readUntil(() => false, timeoutMs);
    return r.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
