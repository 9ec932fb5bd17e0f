/**
 * One complete command line -> what the stream parser must do next, following memcached 1.6.18's
 * process_command_ascii() dispatch and argument checks (arity by ntokens, `noreply` as the last
 * token, key length before numbers, ...). Pure: no cache, no socket.
 */
import type { AsciiCommand, GetVariant, StoreMode, WatchType } from './commands';
import { hasOverlongOpaque, MAX_META_NTOKENS, parseMetaFlags } from './meta-flags';
import type { MetaFlags } from './meta-flags';
import { decodeBase64Key } from './base64';
import { safeStrtol, safeStrtoul, safeStrtoull } from './numbers';
import { splitAllWords, tokenize } from './tokenize';

export interface LineLimits {
  maxKeyBytes: number;
  /** Largest value accepted for a key of this size and these flags (memcached's item_size_ok). */
  maxValueBytes(keyBytes: number, flags: number): number;
}

/** What follows a storage line: `valueBytes` of data and \r\n, turned into a command once read. */
export interface PendingValue {
  valueBytes: number;
  text?: { mode: StoreMode; key: Buffer; flags: number; exptime: number; cas: bigint; noreply: boolean };
  meta?: { key: Buffer; flags: MetaFlags };
}

export type LineOutcome =
  | { next: 'command'; command: AsciiCommand }
  | { next: 'value'; pending: PendingValue }
  /** Reply now, then discard `bytes` of input (too-large or rejected values). */
  | { next: 'swallow'; command: AsciiCommand; bytes: number };

/** memcached: INT_MAX - 2, the largest data length a storage line may announce. */
const MAX_ANNOUNCED_BYTES = 2147483645;

const FORMAT = 'CLIENT_ERROR bad command line format';
const WATCH_TYPES: ReadonlySet<string> = new Set<WatchType>(['fetchers', 'mutations', 'evictions', 'connevents']);
/** memcached: MAX_NUMBER_OF_SLAB_CLASSES - 1, the highest class id lru_crawler may name. */
const MAX_CLASS_ID = 63;
/** memcached's bound on `lru_crawler sleep` (one second). */
const MAX_CRAWLER_SLEEP_US = 1_000_000;

function reply(line: string, noreply = false): LineOutcome {
  return { next: 'command', command: { kind: 'reply', line, noreply } };
}
const cmd = (command: AsciiCommand): LineOutcome => ({ next: 'command', command });
const keyBuf = (s: string): Buffer => Buffer.from(s, 'latin1');

const STORE_MODES: Record<string, StoreMode> = {
  set: 'set', add: 'add', replace: 'replace', append: 'append', prepend: 'prepend', cas: 'cas',
};

/** Class ids as memcached reads them (strtok on ','), each 1..63; undefined: one is bad. */
function classIds(list: string): number[] | undefined {
  const classes: number[] = [];
  for (const id of list.split(',')) {
    if (id === '') continue; // memcached splits with strtok: empty ids vanish
    const n = safeStrtoul(id);
    if (n === undefined || n < 1 || n > MAX_CLASS_ID) return undefined;
    classes.push(n);
  }
  return classes;
}

/** `lru_crawler <subcommand>`, memcached 1.6.18's arity and replies (none takes noreply). */
function parseCrawler(words: string[], ntokens: number): LineOutcome {
  const sub = words[1];
  if (ntokens === 4 && sub === 'metadump') {
    if (words[2] === 'all' || words[2] === 'hash') return cmd({ kind: 'metadump', classes: 'all' });
    const classes = classIds(words[2]);
    return classes === undefined ? reply('BADCLASS invalid class id') : cmd({ kind: 'metadump', classes });
  }
  if (ntokens === 4 && sub === 'crawl') {
    if (words[2] === 'all') return cmd({ kind: 'crawler', action: 'crawl', classes: 'all' });
    // memcached's crawl takes the hash-table walk only for metadump; asked to crawl it, it says this.
    if (words[2] === 'hash') return reply('ERROR an unknown error happened');
    const classes = classIds(words[2]);
    if (classes === undefined) return reply('BADCLASS invalid class id');
    if (classes.length === 0) return reply('NOTSTARTED no items to crawl');
    return cmd({ kind: 'crawler', action: 'crawl', classes });
  }
  if (ntokens === 4 && (sub === 'sleep' || sub === 'tocrawl')) {
    const n = safeStrtoul(words[2]);
    if (n === undefined) return reply(FORMAT);
    if (sub === 'sleep' && n > MAX_CRAWLER_SLEEP_US) return reply('CLIENT_ERROR sleep must be one second or less');
    return cmd(sub === 'sleep' ? { kind: 'crawler', action: 'sleep', sleepUs: n } : { kind: 'crawler', action: 'tocrawl', toCrawl: n });
  }
  if (ntokens === 3 && (sub === 'enable' || sub === 'disable')) return cmd({ kind: 'crawler', action: sub });
  return reply('ERROR');
}

export function parseLine(rawLine: string, limits: LineLimits): LineOutcome {
  // memcached handles the line as a C string: a NUL ends it.
  const nul = rawLine.indexOf('\0');
  const line = nul >= 0 ? rawLine.slice(0, nul) : rawLine;
  const { words, ntokens } = tokenize(line);
  if (ntokens < 2 || words[0].length < 2) return reply('ERROR');
  const name = words[0];
  const noreply = words[words.length - 1] === 'noreply';

  if (name.length === 2 && name[0] === 'm') return parseMeta(name[1], words, ntokens, limits);

  if (name === 'get' || name === 'gets' || name === 'gat' || name === 'gats' || name === 'bget') {
    if (ntokens < 3) return reply('ERROR');
    return parseGet(name === 'bget' ? 'get' : name, line, limits);
  }
  if (name in STORE_MODES) {
    const mode = STORE_MODES[name];
    const isCas = mode === 'cas';
    if (isCas ? ntokens !== 7 && ntokens !== 8 : ntokens !== 6 && ntokens !== 7) return reply('ERROR');
    return parseStore(mode, words, noreply, limits);
  }
  switch (name) {
    case 'incr':
    case 'decr': {
      if (ntokens !== 4 && ntokens !== 5) return reply('ERROR');
      if (words[1].length > limits.maxKeyBytes) return reply(FORMAT, noreply);
      const delta = safeStrtoull(words[2]);
      if (delta === undefined) return reply('CLIENT_ERROR invalid numeric delta argument', noreply);
      return cmd({ kind: 'arith', incr: name === 'incr', key: keyBuf(words[1]), delta, noreply });
    }
    case 'delete': {
      if (ntokens < 3 || ntokens > 5) return reply('ERROR');
      if (ntokens > 3) {
        const holdIsZero = words[2] === '0';
        const valid = (ntokens === 4 && (holdIsZero || noreply)) || (ntokens === 5 && holdIsZero && noreply);
        if (!valid) return reply('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', noreply);
      }
      if (words[1].length > limits.maxKeyBytes) return reply(FORMAT, noreply);
      return cmd({ kind: 'delete', key: keyBuf(words[1]), noreply });
    }
    case 'touch': {
      if (ntokens !== 4 && ntokens !== 5) return reply('ERROR');
      if (words[1].length > limits.maxKeyBytes) return reply(FORMAT, noreply);
      const exptime = safeStrtol(words[2]);
      if (exptime === undefined) return reply('CLIENT_ERROR invalid exptime argument', noreply);
      return cmd({ kind: 'touch', key: keyBuf(words[1]), exptime, noreply });
    }
    case 'flush_all': {
      if (ntokens < 2 || ntokens > 4) return reply('ERROR');
      let delay = 0;
      if (ntokens !== (noreply ? 3 : 2)) {
        const v = safeStrtol(words[1]);
        if (v === undefined) {
          return { next: 'command', command: { kind: 'reply', line: 'CLIENT_ERROR invalid exptime argument', noreply, count: 'cmd_flush' } };
        }
        delay = v;
      }
      return cmd({ kind: 'flush', delay, noreply });
    }
    case 'stats':
      return cmd({ kind: 'stats', words: words.slice(1) });
    case 'version':
      return cmd({ kind: 'version' });
    case 'quit':
      return cmd({ kind: 'quit' });
    case 'lru_crawler':
      return parseCrawler(words, ntokens);
    case 'watch': {
      const types: WatchType[] = [];
      for (const w of words.slice(1)) {
        if (!WATCH_TYPES.has(w)) return cmd({ kind: 'watch', types: 'invalid' });
        if (!types.includes(w as WatchType)) types.push(w as WatchType);
      }
      return cmd({ kind: 'watch', types: types.length === 0 ? ['fetchers'] : types });
    }
    case 'refresh_certs':
      return cmd({ kind: 'refreshCerts', noreply });
    case 'cache_memlimit': {
      if (ntokens !== 3 && ntokens !== 4) return reply('ERROR');
      const megabytes = safeStrtoul(words[1]);
      if (megabytes === undefined) return reply('ERROR', noreply);
      return cmd({ kind: 'memlimit', megabytes, noreply });
    }
    case 'shutdown':
      // Whether it is allowed (-A) is the server's to say; without -A every form is refused alike.
      return cmd({ kind: 'shutdown', mode: ntokens === 2 ? 'now' : ntokens === 3 && words[1] === 'graceful' ? 'graceful' : 'invalid' });
    case 'verbosity': {
      if (ntokens !== 3 && ntokens !== 4) return reply('ERROR');
      const level = safeStrtoul(words[1]);
      if (level === undefined) return reply(FORMAT, noreply);
      return cmd({ kind: 'verbosity', level: Math.min(level, 2), noreply });
    }
    // memcached's tuning of its own allocator and LRU segments, and its external storage: there is
    // nothing of the kind here, and a plain ERROR (unknown command) would not say so.
    case 'slabs':
      return reply(`ERROR ${words[1] === 'reassign' || words[1] === 'automove' ? `slabs ${words[1]}` : 'slabs'} is not supported: items are allocated one by one, there are no slab pages to move`);
    case 'lru':
      return reply('ERROR lru is not supported: the LRU is one list (lru_segmented no), there are no segments to tune');
    case 'extstore':
      return reply('ERROR extstore is not supported: items are kept in memory only');
    default: {
      // memcached closes on what looks like an HTTP request line.
      if (words[words.length - 1].startsWith('HTTP/')) return cmd({ kind: 'close', reason: 'HTTP request on the memcached port' });
      return reply('ERROR');
    }
  }
}

function parseGet(variant: GetVariant, line: string, limits: LineLimits): LineOutcome {
  const all = splitAllWords(line);
  let exptime = 0;
  let keyWords = all.slice(1);
  if (variant === 'gat' || variant === 'gats') {
    const v = safeStrtol(all[1]);
    if (v === undefined) return reply('CLIENT_ERROR invalid exptime argument');
    exptime = v;
    keyWords = all.slice(2);
  }
  const tooLong = keyWords.findIndex((k) => k.length > limits.maxKeyBytes);
  // Keys before an over-long one are still looked up (memcached counts them), then discarded.
  const keys = (tooLong >= 0 ? keyWords.slice(0, tooLong) : keyWords).map(keyBuf);
  return cmd({ kind: 'get', variant, exptime, keys, keyTooLong: tooLong >= 0 });
}

function parseStore(mode: StoreMode, words: string[], noreply: boolean, limits: LineLimits): LineOutcome {
  if (words[1].length > limits.maxKeyBytes) return reply(FORMAT, noreply);
  const flags = safeStrtoul(words[2]);
  const exptime = safeStrtol(words[3]);
  const valueBytes = safeStrtol(words[4]);
  if (flags === undefined || exptime === undefined || valueBytes === undefined) return reply(FORMAT, noreply);
  let cas = 0n;
  if (mode === 'cas') {
    const v = safeStrtoull(words[5]);
    if (v === undefined) return reply(FORMAT, noreply);
    cas = v;
  }
  if (valueBytes < 0 || valueBytes > MAX_ANNOUNCED_BYTES) return reply(FORMAT, noreply);
  const key = keyBuf(words[1]);
  if (valueBytes > limits.maxValueBytes(key.length, flags)) {
    return { next: 'swallow', command: { kind: 'tooLarge', mode, key, noreply, meta: false }, bytes: valueBytes + 2 };
  }
  return { next: 'value', pending: { valueBytes, text: { mode, key, flags, exptime, cas, noreply } } };
}

function parseMeta(op: string, words: string[], ntokens: number, limits: LineLimits): LineOutcome {
  switch (op) {
    case 'n':
      return reply('MN');
    case 'e': {
      if (ntokens < 3 || words[1].length > limits.maxKeyBytes) return reply(FORMAT);
      if (ntokens >= 4 && words[2] === 'b') {
        const key = decodeBase64Key(words[1]);
        if (!key) return reply(FORMAT);
        return cmd({ kind: 'me', key, binaryKey: true });
      }
      return cmd({ kind: 'me', key: keyBuf(words[1]), binaryKey: false });
    }
    case 'g':
    case 'd':
    case 'a': {
      if (ntokens < 3) return reply('ERROR');
      if (words[1].length > limits.maxKeyBytes) return reply(FORMAT);
      if (ntokens > MAX_META_NTOKENS) {
        return reply(op === 'g' ? 'CLIENT_ERROR options flags are too long' : 'CLIENT_ERROR options flags too long');
      }
      const parsed = parseMetaFlags(words[1], words.slice(2));
      if (!parsed.ok) return reply(op === 'g' ? parsed.error : 'CLIENT_ERROR invalid or duplicate flag');
      if (hasOverlongOpaque(parsed.flags)) return reply('CLIENT_ERROR opaque token too long');
      if (op === 'a' && parsed.flags.mode !== undefined && !'I+D-'.includes(parsed.flags.mode)) {
        return reply('CLIENT_ERROR invalid mode for ma M token');
      }
      const kind = op === 'g' ? 'mg' : op === 'd' ? 'md' : 'ma';
      return cmd({ kind, key: parsed.key, flags: parsed.flags });
    }
    case 's':
      return parseMetaSet(words, ntokens, limits);
    default:
      return reply('ERROR');
  }
}

function parseMetaSet(words: string[], ntokens: number, limits: LineLimits): LineOutcome {
  if (ntokens < 3) return reply('ERROR');
  if (words[1].length > limits.maxKeyBytes || ntokens === 3) return reply(FORMAT);
  if (ntokens > MAX_META_NTOKENS) return reply('CLIENT_ERROR options flags too long');
  const announced = safeStrtol(words[2]);
  if (announced === undefined || announced < 0 || announced > MAX_ANNOUNCED_BYTES) return reply(FORMAT);
  const swallowBytes = announced + 2;
  const fail = (line: string): LineOutcome => ({ next: 'swallow', command: { kind: 'reply', line, noreply: false }, bytes: swallowBytes });
  const parsed = parseMetaFlags(words[1], words.slice(3));
  if (!parsed.ok) return fail(parsed.error);
  if (hasOverlongOpaque(parsed.flags)) return fail('CLIENT_ERROR opaque token too long');
  const mode = parsed.flags.mode;
  if (mode !== undefined && !'EAPRS'.includes(mode)) return fail('CLIENT_ERROR invalid mode for ms M token');
  if (announced > limits.maxValueBytes(parsed.key.length, parsed.flags.clientFlags)) {
    return { next: 'swallow', command: { kind: 'tooLarge', mode: 'set', key: parsed.key, noreply: false, meta: true }, bytes: swallowBytes };
  }
  return { next: 'value', pending: { valueBytes: announced, meta: { key: parsed.key, flags: parsed.flags } } };
}
