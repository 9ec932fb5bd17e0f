/**
 * The SASL PLAIN message (RFC 4616): `authzid NUL authcid NUL password`, with no further NUL.
 * Pure: bytes in, fields or a reason out. The reasons are for the -v log and never quote the
 * password.
 */

export type PlainMessage =
  | { ok: true; authzid: Buffer; authcid: Buffer; password: Buffer }
  | { ok: false; reason: string };

export function parsePlain(message: Buffer): PlainMessage {
  const first = message.indexOf(0);
  if (first < 0) return { ok: false, reason: 'malformed PLAIN message (no NUL separator)' };
  const second = message.indexOf(0, first + 1);
  if (second < 0) return { ok: false, reason: 'malformed PLAIN message (no password)' };
  if (message.indexOf(0, second + 1) >= 0) return { ok: false, reason: 'malformed PLAIN message (more than three fields)' };
  const authcid = message.subarray(first + 1, second);
  if (authcid.length === 0) return { ok: false, reason: 'malformed PLAIN message (empty user name)' };
  return { ok: true, authzid: message.subarray(0, first), authcid, password: message.subarray(second + 1) };
}
