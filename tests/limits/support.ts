/**
 * Helpers for the limits tests: a daemon's resident memory from /proc, and a client that can stop
 * reading its socket (a slow reader) and later count what it was sent. Every wait is bounded.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';

/** Resident set size of process `pid`, in MiB (VmRSS in /proc/PID/status). */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid} (it exited)`);
  return Number(match[1]) / 1024;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The largest RSS seen over `samples` samples `intervalMs` apart. */
export async function peakRssMiB(pid: number, samples: number, intervalMs: number): Promise<number> {
  let peak = 0;
  for (let i = 0; i < samples; i++) {
    peak = Math.max(peak, rssMiB(pid));
    await sleep(intervalMs);
  }
  return peak;
}

/** A client that reads nothing until told to; then counts the bytes, keeping only their tail. */
export class SlowReader {
  private received = 0;
  private tailBytes = Buffer.alloc(0);
  private readonly hash = crypto.createHash('sha256');
  private wake?: () => void;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      this.hash.update(d);
      this.tailBytes = Buffer.concat([this.tailBytes, d]).subarray(-256);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static connect(port: number, timeoutMs = 5000): Promise<SlowReader> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${port} timed out`)); }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.pause();
        resolve(new SlowReader(socket));
      });
      socket.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  /** Queue bytes for sending without waiting for the peer to take them. */
  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Bytes this client still has to hand to the kernel (the daemon stopped reading when high). */
  get unsentBytes(): number {
    return this.socket.writableLength;
  }

  /** sha256 (hex) of everything received so far; call once, after reading. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }

  get tail(): string {
    return this.tailBytes.toString('latin1');
  }

  /** Start reading; resolve with the bytes received once at least `bytes` arrived, or at the timeout/close. */
  async readAtLeast(bytes: number, timeoutMs: number): Promise<number> {
    this.socket.resume();
    const deadline = Date.now() + timeoutMs;
    while (this.received < bytes && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
      });
    }
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
