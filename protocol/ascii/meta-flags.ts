/**
 * Meta-protocol flags, parsed as memcached 1.6.18's _meta_flag_preparse() does: one flag per
 * token, identified by its first character; a repeated flag or an unknown one stops parsing at
 * once, other bad flags let parsing continue and the last error message wins. The tokens are kept
 * in request order because replies echo flags (O, k, c, t, ...) in that order.
 */
import { decodeBase64Key } from './base64';
import { safeStrtol, safeStrtoul, safeStrtoull } from './numbers';

/** memcached: MFLAG_MAX_OPAQUE_LENGTH, counting the leading 'O'. */
export const MAX_OPAQUE_TOKEN_CHARS = 32;
/** memcached: MFLAG_MAX_OPT_LENGTH, compared against ntokens. */
export const MAX_META_NTOKENS = 20;

export interface MetaFlags {
  /** Flag tokens in request order (each starts with its flag character). */
  tokens: string[];
  binaryKey: boolean;
  /** q: suppress the nominal reply (HD for ms/md/ma, EN for mg). */
  quiet: boolean;
  /** v: return the value. */
  value: boolean;
  /** u: no LRU bump. */
  noUpdate: boolean;
  /** I: invalidate (mark stale) instead of delete / store-if-older. */
  invalidate: boolean;
  /** T: new TTL, as sent. */
  touchExptime?: number;
  /** N: vivify on miss with this TTL, as sent. */
  vivifyExptime?: number;
  /** R: recache token if the remaining TTL is below this, as sent. */
  recacheSec?: number;
  /** F: client flags (ms). */
  clientFlags: number;
  /** C: compare CAS. */
  compareCas?: bigint;
  /** M: mode character (ms: E A P R S; ma: I + D -). */
  mode?: string;
  /** D (ma): delta, default 1. */
  delta: bigint;
  /** J (ma): initial value for N, default 0. */
  initial: bigint;
}

export type MetaParse = { ok: true; key: Buffer; flags: MetaFlags } | { ok: false; error: string };

/**
 * Parse `flagWords` (the tokens after the key, or after ms's datalen) for `keyToken`.
 */
export function parseMetaFlags(keyToken: string, flagWords: string[]): MetaParse {
  const flags: MetaFlags = {
    tokens: flagWords, binaryKey: false, quiet: false, value: false, noUpdate: false,
    invalidate: false, clientFlags: 0, delta: 1n, initial: 0n,
  };
  let key: Buffer | undefined = Buffer.from(keyToken, 'latin1');
  let error: string | undefined;
  const seen = new Set<number>();
  const badToken = 'CLIENT_ERROR bad token in command line format';
  for (const word of flagWords) {
    const o = word.charCodeAt(0);
    if (o >= 127 || seen.has(o)) return { ok: false, error: 'CLIENT_ERROR duplicate flag' };
    seen.add(o);
    const arg = word.slice(1);
    switch (word[0]) {
      case 'b':
        key = decodeBase64Key(keyToken);
        flags.binaryKey = true;
        if (!key) error = 'CLIENT_ERROR error decoding key';
        break;
      case 'N': {
        const v = safeStrtol(arg);
        if (v === undefined) error = badToken; else flags.vivifyExptime = v;
        break;
      }
      case 'T': {
        const v = safeStrtol(arg);
        if (v === undefined) error = badToken; else flags.touchExptime = v;
        break;
      }
      case 'R': {
        const v = safeStrtol(arg);
        if (v === undefined) error = badToken; else flags.recacheSec = v;
        break;
      }
      case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f': case 'h':
        break;
      case 'v': flags.value = true; break;
      case 'u': flags.noUpdate = true; break;
      case 'q': flags.quiet = true; break;
      case 'I': flags.invalidate = true; break;
      case 'F': {
        const v = safeStrtoul(arg);
        // memcached flags the error but leaves the message at its default.
        if (v === undefined) error = error ?? 'CLIENT_ERROR bad command line format'; else flags.clientFlags = v;
        break;
      }
      case 'C': {
        const v = safeStrtoull(arg);
        if (v === undefined) error = badToken; else flags.compareCas = v;
        break;
      }
      case 'M':
        if (word.length !== 2) error = 'CLIENT_ERROR incorrect length for M token';
        else flags.mode = word[1];
        break;
      case 'J': {
        const v = safeStrtoull(arg);
        if (v === undefined) error = 'CLIENT_ERROR invalid numeric initial value'; else flags.initial = v;
        break;
      }
      case 'D': {
        const v = safeStrtoull(arg);
        if (v === undefined) error = 'CLIENT_ERROR invalid numeric delta value'; else flags.delta = v;
        break;
      }
      default:
        return { ok: false, error: 'CLIENT_ERROR invalid flag' };
    }
  }
  if (error !== undefined || !key) return { ok: false, error: error ?? 'CLIENT_ERROR error decoding key' };
  return { ok: true, key, flags };
}

/** True if an opaque (O) token is longer than memcached allows. */
export function hasOverlongOpaque(flags: MetaFlags): boolean {
  return flags.tokens.some((t) => t[0] === 'O' && t.length > MAX_OPAQUE_TOKEN_CHARS);
}
