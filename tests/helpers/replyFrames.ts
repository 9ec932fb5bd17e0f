/**
 * Splits a server's reply stream into frames without knowing which commands produced it, so a
 * test can read "everything up to the sentinel" and still see value payloads as opaque blocks
 * (a payload may contain "\r\n", "END" or "MN" and must not be mistaken for a reply line).
 */
import { BinResponse, parseResponse } from './binpkt';

export type TextFrame =
  /** One reply line, bytes including its "\n" (and "\r" if the server sent it). */
  | { kind: 'line'; raw: Buffer }
  /** "VALUE ..." or "VA ..." header line plus its data block (data includes the trailing "\r\n"). */
  | { kind: 'value'; header: Buffer; data: Buffer };

export interface TextParse {
  frames: TextFrame[];
  /** Bytes consumed by complete frames. */
  consumed: number;
}

/** Declared payload length of a VALUE/VA header line, or undefined if it is not one. */
function payloadBytes(line: string): number | undefined {
  const t = line.replace(/\r?\n$/, '').split(' ');
  if (t[0] === 'VALUE' && t.length >= 4) return Number(t[3]);
  if (t[0] === 'VA' && t.length >= 2) return Number(t[1]);
  return undefined;
}

export function parseTextFrames(buf: Buffer): TextParse {
  const frames: TextFrame[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const header = buf.subarray(pos, nl + 1);
    const n = payloadBytes(header.toString('latin1'));
    if (n !== undefined && Number.isInteger(n) && n >= 0) {
      const end = nl + 1 + n + 2;
      if (buf.length < end) break;
      frames.push({ kind: 'value', header, data: buf.subarray(nl + 1, end) });
      pos = end;
    } else {
      frames.push({ kind: 'line', raw: header });
      pos = nl + 1;
    }
  }
  return { frames, consumed: pos };
}

export function textFrameBytes(f: TextFrame): Buffer {
  return f.kind === 'line' ? f.raw : Buffer.concat([f.header, f.data]);
}

/**
 * True when the stream parses completely, its last frame is exactly `sentinelReply`, and that
 * line occurs `occurrences` times (the batch itself may contain commands with the same reply).
 */
export function textEndsWith(buf: Buffer, sentinelReply: string, occurrences = 1): boolean {
  if (!buf.subarray(buf.length - sentinelReply.length).equals(Buffer.from(sentinelReply, 'latin1'))) return false;
  const p = parseTextFrames(buf);
  const last = p.frames[p.frames.length - 1];
  if (p.consumed !== buf.length || last?.kind !== 'line' || last.raw.toString('latin1') !== sentinelReply) return false;
  const seen = p.frames.filter((f) => f.kind === 'line' && f.raw.toString('latin1') === sentinelReply).length;
  return seen >= occurrences;
}

export interface BinParse {
  packets: BinResponse[];
  consumed: number;
}

export function parseBinaryFrames(buf: Buffer): BinParse {
  const packets: BinResponse[] = [];
  let pos = 0;
  for (;;) {
    const p = parseResponse(buf, pos);
    if (!p) break;
    packets.push(p);
    pos += p.raw.length;
  }
  return { packets, consumed: pos };
}

/** True when the stream parses completely and ends with a noop response carrying `opaque`. */
export function binaryEndsWithNoop(buf: Buffer, opaque: number): boolean {
  if (buf.length < 24 || buf[buf.length - 24] !== 0x81 || buf[buf.length - 23] !== 0x0a) return false;
  if (buf.readUInt32BE(buf.length - 12) !== opaque >>> 0) return false;
  const p = parseBinaryFrames(buf);
  const last = p.packets[p.packets.length - 1];
  return p.consumed === buf.length && last !== undefined && last.opcode === 0x0a && last.opaque === opaque >>> 0;
}
