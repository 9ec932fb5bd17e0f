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

/** Splits a byte stream into decoded frames; throws on a frame over the limit or bad JSON. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): unknown[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: unknown[] = [];
    while (this.buffered.length >= 4) {
      const size = this.buffered.readUInt32BE(0);
      if (size > MAX_FRAME_BYTES) throw new Error(`peer frame announces ${size} bytes, over the ${MAX_FRAME_BYTES} limit`);
      if (this.buffered.length < 4 + size) break;
      const body = this.buffered.subarray(4, 4 + size).toString('utf8');
      this.buffered = this.buffered.subarray(4 + size);
      out.push(JSON.parse(body, reviver));
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
  if (typeof answer !== 'string' || answer.length !== 64) return false;
  const expected = Buffer.from(answerChallenge(secret, challenge, nodeId), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(answer, 'hex'));
}
