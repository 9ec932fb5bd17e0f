/**
 * The password file of `-S`: memcached's MEMCACHED_SASL_PWDB format, one `user:password` per line.
 * As in memcached's checkpass, anything after a second ':' is ignored (room for extra tokens), a
 * trailing '\r' is dropped (DOS files), and the first line naming a user decides for that user.
 * A password therefore cannot contain ':' or a newline; it may contain any other byte.
 *
 * Passwords never leave this module: callers ask `verify` and get a yes or no.
 */
import { createHash, timingSafeEqual } from 'crypto';
import * as fs from 'fs';

/** Digest of a password that no user has: compared when the user is unknown, so the time of
 *  `verify` does not tell an attacker which user names exist. */
const NO_USER_DIGEST = digest(Buffer.from('mucached: no such user'));

export class PasswordDb {
  private constructor(private readonly digests: ReadonlyMap<string, Buffer>) {}

  /** Parse the file's bytes; `source` names the file in errors. */
  static parse(bytes: Buffer, source: string): PasswordDb {
    const digests = new Map<string, Buffer>();
    let lineNo = 0;
    for (const raw of splitLines(bytes)) {
      lineNo++;
      const line = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
      if (line.length === 0) continue;
      const colon = line.indexOf(0x3a);
      if (colon <= 0) throw new Error(`SASL password file ${source}, line ${lineNo}: expected user:password`);
      const user = line.subarray(0, colon).toString('latin1');
      const rest = line.subarray(colon + 1);
      const end = rest.indexOf(0x3a);
      const password = end < 0 ? rest : rest.subarray(0, end);
      if (!digests.has(user)) digests.set(user, digest(password));
    }
    if (digests.size === 0) throw new Error(`SASL password file ${source} holds no user:password line`);
    return new PasswordDb(digests);
  }

  /** Read and parse `path`; throws an Error naming the file when it is missing, unreadable or empty. */
  static load(path: string): PasswordDb {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`SASL password file ${path} cannot be read (${code})`);
    }
    return PasswordDb.parse(bytes, path);
  }

  get userCount(): number {
    return this.digests.size;
  }

  /**
   * True when `password` is the user's password. The comparison is over fixed-length digests with
   * timingSafeEqual, so its time depends neither on where the passwords differ nor on their lengths.
   */
  verify(user: Buffer, password: Buffer): boolean {
    const expected = this.digests.get(user.toString('latin1'));
    const matches = timingSafeEqual(digest(password), expected ?? NO_USER_DIGEST);
    return expected !== undefined && matches;
  }
}

function digest(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, start)) {
    lines.push(bytes.subarray(start, at));
    start = at + 1;
  }
  if (start < bytes.length) lines.push(bytes.subarray(start));
  return lines;
}
