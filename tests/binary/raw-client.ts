/** A raw binary-protocol TCP client for tests: send bytes, read replies until a condition. */
import * as net from 'net';
import { HEADER_BYTES } from '../../protocol/binary/constants';

export interface Packet {
  magic: number;
  opcode: number;
  keyBytes: number;
  extrasBytes: number;
  status: number;
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
  /** The whole packet as received. */
  raw: Buffer;
}

/** Split a reply stream into packets; a trailing partial packet is returned as `rest`. */
export function splitPackets(bytes: Buffer): { packets: Packet[]; rest: Buffer } {
  const packets: Packet[] = [];
  let at = 0;
  while (bytes.length - at >= HEADER_BYTES) {
    const bodyBytes = bytes.readUInt32BE(at + 8);
    if (bytes.length - at < HEADER_BYTES + bodyBytes) break;
    const keyBytes = bytes.readUInt16BE(at + 2);
    const extrasBytes = bytes[at + 4];
    const body = bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + bodyBytes);
    packets.push({
      magic: bytes[at], opcode: bytes[at + 1], keyBytes, extrasBytes, status: bytes.readUInt16BE(at + 6),
      opaque: bytes.readUInt32BE(at + 12), cas: bytes.readBigUInt64BE(at + 16),
      extras: body.subarray(0, extrasBytes), key: body.subarray(extrasBytes, extrasBytes + keyBytes),
      value: body.subarray(extrasBytes + keyBytes), raw: bytes.subarray(at, at + HEADER_BYTES + bodyBytes),
    });
    at += HEADER_BYTES + bodyBytes;
  }
  return { packets, rest: bytes.subarray(at) };
}

export class RawClient {
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private ended = false;
  private waiters: Array<() => void> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => { this.received.push(d); this.receivedBytes += d.length; this.wake(); });
    socket.on('close', () => { this.ended = true; this.wake(); });
    socket.on('error', () => { this.ended = true; this.wake(); });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(bytes: Buffer): void {
    if (!this.ended) this.socket.write(bytes);
  }

  /** Bytes received so far (not consumed). */
  buffered(): Buffer {
    return Buffer.concat(this.received);
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Wait until `done(bytes)` holds for everything received since the last take, the peer closes,
   * or `timeoutMs` passes; then consume and return those bytes.
   */
  async take(done: (bytes: Buffer) => boolean, timeoutMs = 3000): Promise<{ bytes: Buffer; closed: boolean }> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.buffered()) && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    const bytes = this.buffered();
    this.received = [];
    this.receivedBytes = 0;
    return { bytes, closed: this.ended };
  }

  close(): void {
    this.socket.destroy();
  }
}
