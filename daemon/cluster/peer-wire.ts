/**
 * The daemons' own channel (not the fabric): followers forward writes to the leader and the leader
 * ships snapshots to a node that restarted empty. Frames are a u32 big-endian length and a JSON body;
 * Buffers and bigints travel tagged ({"$b": base64}, {"$n": "123"}) so every op round-trips exactly.
 *
 * Authentication: the listener sends a random challenge; the dialer answers with
 * HMAC-SHA256(secret, challenge || nodeId). The secret itself never crosses the wire.
 */
import * as crypto from 'crypto';

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message, replacer), 'utf8');
  if (body.length > MAX_FRAME_BYTES) throw new Error(`peer frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/**
 * Splits a byte stream into decoded frames; throws on a frame over the limit, bad JSON, or a body
 * that is not a JSON object (every message is one; the caller drops the connection on a throw).
 * Linear in the bytes received: the pieces of an unfinished frame are joined once, when it is whole
 * (joining on every chunk made a large frame cost quadratic time, stalling the event loop).
 */
export class FrameReader {
  private pieces: Buffer[] = [];
  private bufferedBytes = 0;
  /** Length prefix + body of the frame at the head of `pieces`, once its prefix has arrived. */
  private frameBytes = 0;

  push(chunk: Buffer): unknown[] {
    if (chunk.length > 0) {
      this.pieces.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const out: unknown[] = [];
    while (this.bufferedBytes >= 4) {
      if (this.frameBytes === 0) {
        if (this.pieces[0].length < 4) this.pieces = [Buffer.concat(this.pieces, this.bufferedBytes)];
        const size = this.pieces[0].readUInt32BE(0);
        if (size > MAX_FRAME_BYTES) throw new Error(`peer frame announces ${size} bytes, over the ${MAX_FRAME_BYTES} limit`);
        this.frameBytes = 4 + size;
      }
      if (this.bufferedBytes < this.frameBytes) break;
      const all = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.bufferedBytes);
      const body = all.subarray(4, this.frameBytes).toString('utf8');
      const rest = all.subarray(this.frameBytes);
      this.pieces = rest.length > 0 ? [rest] : [];
      this.bufferedBytes = rest.length;
      this.frameBytes = 0;
      const message: unknown = JSON.parse(body, reviver);
      if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new Error('peer frame is not a JSON object');
      out.push(message);
    }
    return out;
  }
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(raw)) return { $b: raw.toString('base64') };
  if (typeof value === 'bigint') return { $n: value.toString() };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.$b === 'string' && Object.keys(v).length === 1) return Buffer.from(v.$b, 'base64');
    if (typeof v.$n === 'string' && Object.keys(v).length === 1) return BigInt(v.$n);
  }
  return value;
}

export function newChallenge(): string {
  return crypto.randomBytes(32).toString('hex');
}

export function answerChallenge(secret: string, challenge: string, nodeId: number): string {
  return crypto.createHmac('sha256', secret).update(`${challenge}:${nodeId}`).digest('hex');
}

export function checkAnswer(secret: string, challenge: string, nodeId: number, answer: unknown): boolean {
  // Only 64 hex digits decode to the 32 bytes timingSafeEqual needs (it throws on a length mismatch).
  if (typeof answer !== 'string' || !/^[0-9a-f]{64}$/i.test(answer)) return false;
  const expected = Buffer.from(answerChallenge(secret, challenge, nodeId), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(answer, 'hex'));
}
