/**
 * Reply encoders for the text and meta protocols. Output is latin1 so key bytes round-trip.
 */
import { encodeBase64Key } from './base64';

const CRLF = Buffer.from('\r\n', 'latin1');
export const END = Buffer.from('END\r\n', 'latin1');
export const EMPTY = Buffer.alloc(0);

/** A one-line reply: `text` plus \r\n. */
export function line(text: string): Buffer {
  return Buffer.from(text + '\r\n', 'latin1');
}

/** One item of a get reply (an ItemView fits). */
export interface ValueBlock {
  key: Buffer;
  flags: number;
  value: Buffer;
  cas: bigint;
}

/**
 * `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n` per block (the CAS for gets/gats), then END,
 * in one buffer, written from JS: the ASCII parts byte by byte, key and value copied as bytes.
 * Native helpers (toString, write) cost more per call than these few bytes do, and a reply is one
 * allocation.
 */
export function valuesReply(blocks: ValueBlock[], withCas: boolean): Buffer {
  const tails = new Array<string>(blocks.length);
  let total = END.length;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    tails[i] = withCas ? ` ${b.flags} ${b.value.length} ${b.cas}\r\n` : ` ${b.flags} ${b.value.length}\r\n`;
    total += VALUE_PREFIX.length + b.key.length + tails[i].length + b.value.length + CRLF.length;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    at = putAscii(out, at, VALUE_PREFIX);
    out.set(b.key, at);
    at += b.key.length;
    at = putAscii(out, at, tails[i]);
    out.set(b.value, at);
    at += b.value.length;
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  out.set(END, at);
  return out;
}

const VALUE_PREFIX = 'VALUE ';

/** Writes ASCII `text` at `at`; returns the offset after it. */
function putAscii(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  return at + text.length;
}

function statText(pairs: Array<[string, string]>): string {
  let text = '';
  for (const [name, value] of pairs) text += `STAT ${name} ${value}\r\n`;
  return text;
}

/** `STAT name value` lines, without END (`stats sizes_enable` answers so). */
export function statLines(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(statText(pairs), 'latin1');
}

/** `STAT name value` lines then END. */
export function statsReply(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(statText(pairs) + 'END\r\n', 'latin1');
}

/** The ` k<key>` meta return flag: base64 plus ` b` for binary keys. */
export function metaKeyFlag(key: Buffer, binary: boolean): string {
  return binary ? ` k${encodeBase64Key(key)} b` : ` k${key.toString('latin1')}`;
}

/** A meta status line with its flags, optionally followed by a value block. */
export function metaReply(status: string, flagText: string, value?: Buffer): Buffer {
  const head = Buffer.from(status + flagText + '\r\n', 'latin1');
  return value === undefined ? head : Buffer.concat([head, value, CRLF]);
}
