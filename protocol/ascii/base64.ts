/**
 * Strict base64 for meta `b` keys: memcached's decoder rejects what Node's lenient decoder would
 * accept (lengths that are not a multiple of 4, stray padding, foreign characters), and a key that
 * decodes to zero bytes is a failure too.
 */
const ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/;

export function decodeBase64Key(token: string): Buffer | undefined {
  if (token.length === 0 || token.length % 4 !== 0 || !ALPHABET.test(token)) return undefined;
  const decoded = Buffer.from(token, 'base64');
  return decoded.length === 0 ? undefined : decoded;
}

export function encodeBase64Key(key: Buffer): string {
  return key.toString('base64');
}
