/**
 * The daemons' own channel (not the fabric): followers forward writes to the leader and the leader
 * ships snapshots to a node that restarted empty. Frames are a u32 big-endian length and a body: the
 * hot messages of a forwarded set in binary (peer-binary.ts), everything else JSON, where Buffers and
 * bigints travel tagged ({"$b": base64}, {"$n": "123"}) so every op round-trips exactly.
 *
 * Authentication is mutual and mirrors the tcp fabric's (binding/src/tcp_frames.h authMac):
 *   listener -> {t:'challenge', v:2, c: challenge, nodeId: serverId, bin: 1}
 *   dialer   -> {t:'hello', v:2, nodeId: clientId, nonce, answer: proof('client'), bin: 1}
 *   listener -> {t:'welcome', proof: proof('server')}
 * Each proof is an HMAC-SHA256 keyed by the cluster secret over both nonces, the cluster name,
 * both node ids and the role. Fresh nonces on both sides make a recorded proof useless on another
 * connection; the role makes a dialer's proof useless as a listener's (no reflection). The listener
 * proves itself only after the dialer has, so it is never an oracle for an unauthenticated caller.
 * The secret itself never crosses the wire.
 */
import * as crypto from 'crypto';
import { decodeBinaryBody, encodeBinaryFrame, isJsonBody } from './peer-binary';
import { decodeTagged, encodeTagged } from '../tagged-json';

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/**
 * Until a peer has proved it knows the secret, the only frames it may send are the small handshake
 * messages (well under 1 KiB); this bound keeps an anonymous socket from making us buffer 64 MiB.
 */
export const PRE_AUTH_MAX_FRAME_BYTES = 4 * 1024;
/** The handshake version in challenge and hello; the older handshake carried no `v` and no nonce. */
export const PEER_HANDSHAKE_VERSION = 2;

/**
 * Challenge and hello carry `bin: 1` from builds that read binary frames (peer-binary.ts). Each end
 * sends binary frames only to a peer that said so: a build without them ignores the field and gets
 * JSON, so a cluster can be upgraded one node at a time. (The field is outside the proofs: removing
 * it only costs speed.)
 */
export const BINARY_FRAMES_FIELD = 'bin';

export function saysBinaryFrames(message: Record<string, unknown>): boolean {
  return message[BINARY_FRAMES_FIELD] === 1;
}

/**
 * The challenge carries `rec: 1` from builds that record forwarded writes' outcomes in the log
 * (cache/outcomes.ts): a dialer sends a write's tag only to such a listener, since an older one
 * refuses a binary frame with a tag, and a forward it did not record must never be sent again.
 */
export const RECORDS_FIELD = 'rec';

export function saysRecords(message: Record<string, unknown>): boolean {
  return message[RECORDS_FIELD] === 1;
}

/** A frame for `message`; `binaryOk`: the peer reads binary frames (see BINARY_FRAMES_FIELD). */
export function encodeFrame(message: unknown, binaryOk = false): Buffer {
  const binary = binaryOk ? encodeBinaryFrame(message) : null;
  if (binary !== null) return withLength(binary, binary.length - 4);
  const body = encodeTagged(message);
  return Buffer.concat([withLength(Buffer.allocUnsafe(4), body.length), body]);
}

/** Writes the length prefix of a body of `bodyBytes` at the start of `frame`, within the limit. */
function withLength(frame: Buffer, bodyBytes: number): Buffer {
  if (bodyBytes > MAX_FRAME_BYTES) throw new Error(`peer frame of ${bodyBytes} bytes exceeds ${MAX_FRAME_BYTES}`);
  frame.writeUInt32BE(bodyBytes, 0);
  return frame;
}

/**
 * Splits a byte stream into decoded frames; throws on a frame over the limit, bad JSON, or a body
 * that is not a JSON object (every message is one; the caller drops the connection on a throw).
 * Linear in the bytes received: the pieces of an unfinished frame are joined once, when it is whole
 * (joining on every chunk made a large frame cost quadratic time, stalling the event loop).
 * The size limit is checked as soon as a length prefix arrives, so an oversized frame is refused
 * after 4 bytes, not after buffering it. A link raises the limit with `allowFramesUpTo` once the
 * peer is authenticated; pulling frames one at a time with `next` makes the new limit apply from
 * exactly the frame after the handshake.
 */
export class FrameReader {
  private pieces: Buffer[] = [];
  private bufferedBytes = 0;
  /** Length prefix + body of the frame at the head of `pieces`, once its prefix has arrived. */
  private frameBytes = 0;

  constructor(private maxFrameBytes: number = MAX_FRAME_BYTES) {}

  allowFramesUpTo(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Appends a chunk and decodes every whole frame in it. */
  push(chunk: Buffer): unknown[] {
    this.append(chunk);
    const out: unknown[] = [];
    for (let m = this.next(); m !== undefined; m = this.next()) out.push(m);
    return out;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pieces.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Record<string, unknown> | undefined {
    if (this.bufferedBytes < 4) return undefined;
    if (this.frameBytes === 0) {
      if (this.pieces[0].length < 4) this.pieces = [Buffer.concat(this.pieces, this.bufferedBytes)];
      const size = this.pieces[0].readUInt32BE(0);
      if (size > this.maxFrameBytes) throw new Error(`peer frame announces ${size} bytes, over the ${this.maxFrameBytes} limit`);
      this.frameBytes = 4 + size;
    }
    if (this.bufferedBytes < this.frameBytes) return undefined;
    const all = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.bufferedBytes);
    const bytes = all.subarray(4, this.frameBytes);
    const rest = all.subarray(this.frameBytes);
    this.pieces = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    this.frameBytes = 0;
    if (bytes.length > 0 && !isJsonBody(bytes[0])) return decodeBinaryBody(bytes);
    const message: unknown = decodeTagged(bytes);
    if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new Error('peer frame is not a JSON object');
    return message as Record<string, unknown>;
  }
}

const NONCE_BYTES = 32;
const NONCE_PATTERN = /^[0-9a-f]{64}$/;
const PROOF_PATTERN = /^[0-9a-f]{64}$/;

/** A fresh random nonce as 64 lowercase hex digits (used both as the challenge and the dialer nonce). */
export function newNonce(): string {
  return crypto.randomBytes(NONCE_BYTES).toString('hex');
}

export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE_PATTERN.test(value);
}

/** Everything one handshake's proofs are bound to. */
export interface HandshakeFacts {
  cluster: string;
  /** The listener's node id as announced in its challenge (0 when the listener was not told it). */
  serverId: number;
  clientId: number;
  /** The listener's nonce. */
  challenge: string;
  /** The dialer's nonce. */
  nonce: string;
}

export type ProofRole = 'client' | 'server';

/**
 * HMAC-SHA256(secret, header || challenge bytes || nonce bytes) as hex. The cluster name is length-
 * prefixed so no choice of names and ids can make two different headers collide; the nonces are
 * fixed-size, so the concatenation is unambiguous.
 */
export function handshakeProof(secret: string, role: ProofRole, f: HandshakeFacts): string {
  const clusterBytes = Buffer.byteLength(f.cluster, 'utf8');
  const header = `mucached-peer/${PEER_HANDSHAKE_VERSION} ${role} ${clusterBytes}:${f.cluster} ${f.serverId} ${f.clientId} `;
  return crypto.createHmac('sha256', secret)
    .update(header, 'utf8')
    .update(Buffer.from(f.challenge, 'hex'))
    .update(Buffer.from(f.nonce, 'hex'))
    .digest('hex');
}

/** Constant-time check of a proof received off the wire (any type: it is untrusted). */
export function checkProof(secret: string, role: ProofRole, f: HandshakeFacts, proof: unknown): boolean {
  // Only 64 hex digits decode to the 32 bytes timingSafeEqual needs (it throws on a length mismatch).
  if (typeof proof !== 'string' || !PROOF_PATTERN.test(proof.toLowerCase())) return false;
  if (!isNonce(f.challenge) || !isNonce(f.nonce)) return false;
  const expected = Buffer.from(handshakeProof(secret, role, f), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(proof, 'hex'));
}
