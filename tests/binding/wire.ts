/**
 * An independent client of the tcp fabric's wire format (binding/src/tcp_frames.h), written
 * against the spec with node:crypto, so tests can speak to the NIC thread byte by byte: complete
 * and partial frames, malformed ones, wrong MACs.
 */
import * as crypto from 'crypto';
import * as net from 'net';

export const FRAME = { hello: 0x01, auth: 0x02, authOk: 0x03, write: 0x10, read: 0x11, writeAck: 0x20, readResp: 0x21, death: 0x30 };

export function frame(body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

export function authMac(secret: string, role: 'client' | 'server' | 'herald', cluster: string, serverId: number, clientId: number, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  const head = Buffer.from(`mucached-fabric/1 ${role} ${cluster} ${serverId} ${clientId} `);
  return crypto.createHmac('sha256', secret).update(Buffer.concat([head, serverNonce, clientNonce])).digest();
}

export function writeFrame(wrId: number, region: string, offset: number, data: Buffer): Buffer {
  const head = Buffer.alloc(1 + 8 + 1);
  head[0] = FRAME.write;
  head.writeBigUInt64LE(BigInt(wrId), 1);
  head[9] = region.length;
  const tail = Buffer.alloc(12);
  tail.writeBigUInt64LE(BigInt(offset), 0);
  tail.writeUInt32LE(data.length, 8);
  return frame(Buffer.concat([head, Buffer.from(region), tail, data]));
}

/** A raw socket with a byte queue and bounded waits. */
export class RawConn {
  private received = Buffer.alloc(0);
  private closedNow = false;
  private notify: (() => void) | undefined;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => { this.received = Buffer.concat([this.received, d]); this.notify?.(); });
    socket.on('close', () => { this.closedNow = true; this.notify?.(); });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedNow;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next whole frame's body, or null if the connection closed first. */
  async nextFrame(timeoutMs = 5000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000; i++) {
      if (this.received.length >= 4) {
        const len = this.received.readUInt32LE(0);
        if (this.received.length >= 4 + len) {
          const body = this.received.subarray(4, 4 + len);
          this.received = this.received.subarray(4 + len);
          return body;
        }
      }
      if (this.closedNow) return null;
      if (Date.now() >= deadline) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.notify = () => { clearTimeout(timer); resolve(); };
      });
    }
    throw new Error('nextFrame: too many rounds');
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000 && !this.closedNow && Date.now() < deadline; i++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.notify = () => { clearTimeout(timer); resolve(); };
      });
    }
    return this.closedNow;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Reads HELLO, answers AUTH as `clientId` (as a peer, or as its death herald); returns the
   * server's reply frame (or null if closed).
   */
  async handshake(secret: string, cluster: string, serverId: number, clientId: number, role: 'client' | 'herald' = 'client'): Promise<Buffer | null> {
    const hello = await this.nextFrame();
    if (!hello || hello[0] !== FRAME.hello) throw new Error('expected HELLO');
    const serverNonce = hello.subarray(hello.length - 32);
    const clientNonce = crypto.randomBytes(32);
    const mac = authMac(secret, role, cluster, serverId, clientId, serverNonce, clientNonce);
    const body = Buffer.alloc(1 + 4);
    body[0] = FRAME.auth;
    body.writeUInt32LE(clientId, 1);
    this.send(frame(Buffer.concat([body, clientNonce, mac])));
    const reply = await this.nextFrame();
    if (reply && reply[0] === FRAME.authOk) {
      const expected = authMac(secret, 'server', cluster, serverId, clientId, serverNonce, clientNonce);
      if (!reply.subarray(1).equals(expected)) throw new Error('server MAC does not verify');
    }
    return reply;
  }
}
