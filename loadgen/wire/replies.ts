/**
 * Streaming reply scanner: classifies each complete memcached reply in the byte stream without
 * building strings for the common replies. It never needs to know what was asked: text and meta
 * replies are self-delimiting, binary replies carry their opcode and length.
 *
 * Invariant: `scan` reports replies in stream order; bytes of a reply not yet complete are kept
 * (copied: the caller may reuse its read buffer) and completed by the next chunk. After an
 * unintelligible reply the stream position is unknown, so the scanner reports one UNEXPECTED,
 * marks itself desynced and ignores everything after; the caller must drop the connection.
 */
import type { WireProtocol } from './requests';

export const R_STORED = 0;
export const R_HIT = 1;
export const R_MISS = 2;
export const R_NOT_STORED = 3;
export const R_EXISTS = 4;
export const R_NOT_FOUND = 5;
export const R_SERVER_ERROR = 6;
export const R_CLIENT_ERROR = 7;
export const R_ERROR = 8;
export const R_UNEXPECTED = 9;
export const REPLY_KIND_NAMES = [
  'stored', 'hit', 'miss', 'not_stored', 'exists', 'not_found', 'server_error', 'client_error', 'error', 'unexpected',
] as const;

/** A line longer than this without its LF is not a memcached reply header. */
const MAX_LINE_BYTES = 8192;
const LF = 10;
const C = (s: string): number => s.charCodeAt(0);

const BINARY_HEADER_BYTES = 24;
const BINARY_MAGIC_RESPONSE = 0x81;
const BINARY_OPCODE_GET = 0x00;

const INCOMPLETE = -1;

export class ReplyScanner {
  /** kinds[i] for i < the count `scan` returned: the replies just completed, in order. */
  kinds = new Uint8Array(256);
  desynced = false;
  private pending: Buffer | null = null;
  private count = 0;
  private readonly binary: boolean;

  constructor(protocol: WireProtocol) {
    this.binary = protocol === 'binary';
  }

  pendingBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }

  /** Consume one chunk; returns how many replies it completed (their kinds are in `kinds`). */
  scan(chunk: Buffer): number {
    this.count = 0;
    if (this.desynced) return 0;
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let pos = 0;
    while (pos < buf.length) {
      const end = this.binary ? this.binaryReply(buf, pos) : this.textReply(buf, pos);
      if (end === INCOMPLETE) {
        this.pending = Buffer.from(buf.subarray(pos));
        break;
      }
      if (this.desynced) break;
      pos = end;
    }
    return this.count;
  }

  private push(kind: number): void {
    if (this.count === this.kinds.length) {
      const grown = new Uint8Array(this.kinds.length * 2);
      grown.set(this.kinds);
      this.kinds = grown;
    }
    this.kinds[this.count++] = kind;
  }

  private unexpected(buf: Buffer): number {
    this.push(R_UNEXPECTED);
    this.desynced = true;
    return buf.length;
  }

  private binaryReply(buf: Buffer, pos: number): number {
    if (buf.length - pos < BINARY_HEADER_BYTES) return buf[pos] === BINARY_MAGIC_RESPONSE ? INCOMPLETE : this.unexpected(buf);
    if (buf[pos] !== BINARY_MAGIC_RESPONSE) return this.unexpected(buf);
    const end = pos + BINARY_HEADER_BYTES + buf.readUInt32BE(pos + 8);
    if (end > buf.length) return INCOMPLETE;
    const status = buf.readUInt16BE(pos + 6);
    const isGet = buf[pos + 1] === BINARY_OPCODE_GET;
    switch (status) {
      case 0x0000: this.push(isGet ? R_HIT : R_STORED); break;
      case 0x0001: this.push(isGet ? R_MISS : R_NOT_FOUND); break;
      case 0x0002: this.push(R_EXISTS); break;
      case 0x0005: this.push(R_NOT_STORED); break;
      case 0x0003: case 0x0004: case 0x0007: case 0x0020: case 0x0021: this.push(R_CLIENT_ERROR); break;
      case 0x0081: this.push(R_ERROR); break;
      default: this.push(R_SERVER_ERROR); break; // 0x82 out of memory, 0x84 internal, 0x85 busy, 0x86 temporary
    }
    return end;
  }

  /** Returns the end of the line starting at pos (index after LF), INCOMPLETE, or desyncs. */
  private lineEnd(buf: Buffer, pos: number): number {
    const lf = buf.indexOf(LF, pos);
    if (lf >= 0) return lf + 1;
    return buf.length - pos > MAX_LINE_BYTES ? this.unexpected(buf) : INCOMPLETE;
  }

  private textReply(buf: Buffer, pos: number): number {
    const end = this.lineEnd(buf, pos);
    if (end === INCOMPLETE || this.desynced) return end;
    const lineBytes = end - pos - 2; // without CRLF
    const c0 = buf[pos];
    const c1 = buf[pos + 1];
    if (c0 === C('V') && c1 === C('A')) {
      if (buf[pos + 2] === C(' ')) return this.dataBlock(buf, pos + 3, end, false); // meta VA <size> <flags>*
      if (buf[pos + 2] === C('L')) return this.dataBlock(buf, pos, end, true); // VALUE <key> <flags> <bytes>
      return this.unexpected(buf);
    }
    if (c0 === C('E') && c1 === C('N')) {
      if (lineBytes === 2 || lineBytes === 3) { this.push(R_MISS); return end; } // EN, END
    }
    if (c0 === C('H') && c1 === C('D') && lineBytes >= 2) { this.push(R_STORED); return end; }
    if (c0 === C('S') && c1 === C('T') && lineBytes === 6) { this.push(R_STORED); return end; }
    const word = buf.toString('latin1', pos, pos + Math.min(lineBytes, 16)).split(' ')[0];
    switch (word) {
      case 'NS': case 'NOT_STORED': this.push(R_NOT_STORED); return end;
      case 'EX': case 'EXISTS': this.push(R_EXISTS); return end;
      case 'NF': case 'NOT_FOUND': this.push(R_NOT_FOUND); return end;
      case 'SERVER_ERROR': this.push(R_SERVER_ERROR); return end;
      case 'CLIENT_ERROR': this.push(R_CLIENT_ERROR); return end;
      case 'ERROR': this.push(R_ERROR); return end;
      default: return this.unexpected(buf);
    }
  }

  /**
   * A value reply whose header line spans [headerStart, lineEnd): the data length is the first
   * number at `sizeAt` (meta) or the 4th field (text VALUE). Text replies end with END after one or
   * more VALUE blocks; a meta VA reply ends after its data.
   */
  private dataBlock(buf: Buffer, sizeAt: number, lineEnd: number, textValue: boolean): number {
    let p = sizeAt;
    if (textValue) {
      for (let spaces = 0; p < lineEnd && spaces < 3; p++) if (buf[p] === C(' ')) spaces++;
    }
    let size = 0;
    let digits = 0;
    for (; p < lineEnd && buf[p] >= C('0') && buf[p] <= C('9') && digits < 10; p++, digits++) size = size * 10 + (buf[p] - C('0'));
    if (digits === 0) return this.unexpected(buf);
    const dataEnd = lineEnd + size + 2;
    if (dataEnd > buf.length) return INCOMPLETE;
    if (buf[dataEnd - 2] !== 13 || buf[dataEnd - 1] !== LF) return this.unexpected(buf);
    if (!textValue) { this.push(R_HIT); return dataEnd; }
    const next = this.lineEnd(buf, dataEnd);
    if (next === INCOMPLETE || this.desynced) return next;
    if (next - dataEnd === 5 && buf[dataEnd] === C('E') && buf[dataEnd + 1] === C('N') && buf[dataEnd + 2] === C('D')) {
      this.push(R_HIT);
      return next;
    }
    if (buf[dataEnd] === C('V') && buf[dataEnd + 1] === C('A') && buf[dataEnd + 2] === C('L')) return this.dataBlock(buf, dataEnd, next, true);
    return this.unexpected(buf);
  }
}
