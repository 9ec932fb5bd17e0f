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

/** `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n` as separate buffers (no copy of the data). */
export function valueParts(key: Buffer, flags: number, value: Buffer, cas?: bigint): Buffer[] {
  const keyText = key.toString('latin1');
  const head = cas === undefined ? `VALUE ${keyText} ${flags} ${value.length}\r\n` : `VALUE ${keyText} ${flags} ${value.length} ${cas}\r\n`;
  return [Buffer.from(head, 'latin1'), value, CRLF];
}

/** `STAT name value` lines then END. */
export function statsReply(pairs: Array<[string, string]>): Buffer {
  let text = '';
  for (const [name, value] of pairs) text += `STAT ${name} ${value}\r\n`;
  return Buffer.from(text + 'END\r\n', 'latin1');
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
