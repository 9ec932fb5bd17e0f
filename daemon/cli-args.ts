/**
 * The daemon's command line: memcached 1.6's flags, so that an existing memcached.conf, service
 * file or habit carries over, plus the cluster options. Every memcached flag is either implemented,
 * accepted with a logged note where it tunes an internal mucached does not have (slab classes,
 * worker threads), or refused with the reason; none is silently dropped.
 */
import yargs from 'yargs';
import { checkedBusyPollUs, MAX_BUSY_POLL_US } from './busy-poll';
import { CrawlerSettings, MAX_CRAWLER_SLEEP_US } from './cache/crawler';
import { parseListenAddresses } from './listen-addresses';
import { parseSize } from './size-arg';
import { VERSION } from './server';

/** memcached's -o suboptions that mucached accepts for compatibility but that change nothing here. */
const IGNORED_SUBOPTIONS = new Set([
  'maxconns_fast', 'no_maxconns_fast', 'hashpower', 'tail_repair_time', 'hash_algorithm',
  'read_buf_mem_limit', 'lru_maintainer', 'no_lru_maintainer', 'hot_lru_pct',
  'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temporary_ttl', 'slab_chunk_max', 'watcher_logbuf_size',
  'worker_logbuf_size', 'no_hashexpand', 'modern', 'no_modern', 'slab_reassign', 'slab_automove',
  'slab_automove_ratio', 'slab_automove_window', 'no_inline_ascii_resp', 'no_chunked_items', 'sock_cookie_id',
]);

export interface ExtendedOptions {
  idleTimeoutSec: number;
  /** ssl_* suboptions (TLS, used with -Z; tls-settings.ts), by name. */
  ssl: Record<string, string>;
  /** lru_crawler, no_lru_crawler, lru_crawler_sleep, lru_crawler_tocrawl: the expiry crawler (cache/crawler.ts). */
  crawler: Partial<CrawlerSettings>;
  /** track_sizes: `stats sizes` counts from the start. */
  trackSizes: boolean;
  /** Suboptions accepted and ignored (the caller warns about them). */
  ignored: string[];
}

/**
 * memcached's `-o a,b=1` lists (the flag may repeat). Unknown suboptions are refused with memcached's
 * own words (it exits too); known ones we do not implement are accepted and reported as ignored.
 */
export function parseExtendedOptions(lists: string[]): ExtendedOptions {
  const out: ExtendedOptions = { idleTimeoutSec: 0, ssl: {}, crawler: {}, trackSizes: false, ignored: [] };
  for (const item of lists.flatMap((list) => list.split(','))) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (name === 'idle_timeout') {
      if (value === undefined) throw new Error('Missing numeric argument for idle_timeout');
      if (!/^\d+$/.test(value) || Number(value) > 2 ** 31 - 1) throw new Error(`-o idle_timeout=${value}: use a whole number of seconds (0 = off)`);
      out.idleTimeoutSec = Number(value);
    } else if (name === 'lru_crawler' || name === 'no_lru_crawler') {
      out.crawler.enabled = name === 'lru_crawler';
    } else if (name === 'lru_crawler_sleep') {
      if (value === undefined) throw new Error('Missing lru_crawler_sleep value');
      if (!/^\d+$/.test(value) || Number(value) > MAX_CRAWLER_SLEEP_US) throw new Error('LRU crawler sleep must be between 0 and 1 second (microseconds, 0-1000000)');
      out.crawler.sleepUs = Number(value);
    } else if (name === 'lru_crawler_tocrawl') {
      if (value === undefined) throw new Error('Missing lru_crawler_tocrawl value');
      if (!/^\d+$/.test(value) || Number(value) > 2 ** 32 - 1) throw new Error('lru_crawler_tocrawl takes a numeric 32bit value');
      out.crawler.toCrawl = Number(value);
    } else if (name === 'track_sizes') {
      out.trackSizes = true;
    } else if (name.startsWith('ssl_')) {
      out.ssl[name] = value ?? '';
    } else if (IGNORED_SUBOPTIONS.has(name) || name.startsWith('ext_')) {
      out.ignored.push(item);
    } else {
      throw new Error(`Illegal suboption "${item}"`);
    }
  }
  return out;
}

/**
 * memcached flags that tune memcached's own internals (slab allocator, worker threads, per-prefix
 * stats, commands mucached does not have): accepted, each given one with a logged line saying so.
 */
export const NO_EFFECT_FLAGS: ReadonlyArray<{ flag: string; name: string; why: string }> = [
  { flag: 'f', name: 'slab-growth-factor', why: 'mucached has no slab classes (values are allocated per item)' },
  { flag: 'n', name: 'slab-min-size', why: 'mucached has no slab classes (values are allocated per item)' },
  { flag: 'L', name: 'enable-largepages', why: 'item memory is managed by the JavaScript heap' },
  { flag: 'k', name: 'lock-memory', why: 'Node.js cannot lock its pages (mlockall); use systemd LimitMEMLOCK with swap off instead' },
  { flag: 'r', name: 'enable-coredumps', why: 'set the core limit outside (ulimit -c, systemd LimitCORE)' },
  { flag: 'R', name: 'max-reqs-per-event', why: 'fairness between clients comes from per-connection read budgets' },
];

/** memcached flags for features mucached does not have: refused before anything starts. */
const REFUSED_FLAGS: ReadonlyArray<{ flag: string; name: string; why: string }> = [
  { flag: 'Y', name: 'auth-file', why: 'ASCII authentication is not supported: use -S (SASL on the binary protocol)' },
  { flag: 'e', name: 'memory-file', why: 'a restartable memory file is not supported (a cluster node that restarts is refilled by state transfer)' },
];

export type BindingProtocol = 'ascii' | 'binary' | 'auto';

export function parseArgs(argv: string[]) {
  let parser = yargs(argv)
    .scriptName('mucached')
    .usage('$0 [options]\n\nA memcached-compatible cache. Speaks the text, meta and binary protocols on one TCP port (or a UNIX socket with -s).')
    .option('p', { alias: 'port', type: 'number', default: 11211, describe: 'TCP port to listen on (0 = any free port)' })
    .option('l', {
      alias: 'listen', type: 'string', default: '127.0.0.1',
      // Given several times: one list, as memcached takes -l a -l b for -l a,b.
      coerce: (v: string | string[]) => [v].flat().join(','),
      describe: 'interfaces to listen on: host or host:port ([v6]:port), comma separated or -l repeated; without a port, -p',
    })
    .option('s', { alias: 'unix-socket', type: 'string', describe: 'UNIX socket to listen on instead of TCP (single node only)' })
    .option('a', { alias: 'unix-mask', type: 'string', default: '700', describe: 'access mask for the UNIX socket, in octal' })
    .option('b', { alias: 'listen-backlog', type: 'number', default: 1024, describe: 'backlog of connections not yet accepted' })
    .option('B', { alias: 'protocol', choices: ['ascii', 'binary', 'auto'] as const, default: 'auto' as const, describe: 'protocols served: ascii (text and meta), binary, or auto (both, by the first byte)' })
    .option('m', { alias: 'memory-limit', type: 'number', default: 64, describe: 'item memory in megabytes' })
    .option('M', { alias: 'disable-evictions', type: 'boolean', default: false, describe: 'return an error when memory is full instead of evicting' })
    .option('c', { alias: 'conn-limit', type: 'number', default: 1024, describe: 'max simultaneous connections' })
    .option('I', { alias: 'max-item-size', type: 'string', default: '1m', describe: 'max item size (bytes, k or m suffix)' })
    .option('C', { alias: 'disable-cas', type: 'boolean', default: false, describe: 'disable CAS (cas uniques read 0; cas commands fail)' })
    .option('D', { alias: 'prefix-delimiter', type: 'string', describe: 'per-prefix stats (stats detail) from the start, keys split at this character' })
    .option('Z', { alias: 'enable-ssl', type: 'boolean', default: false, describe: 'TLS on the TCP port: -o ssl_chain_cert=FILE,ssl_key=FILE[,ssl_ca_cert=FILE,ssl_verify_mode=0-3,ssl_ciphers=LIST,ssl_min_version=tlsv1.2|tlsv1.3]' })
    .option('W', { alias: 'disable-watch', type: 'boolean', default: false, describe: 'refuse watch commands' })
    .option('X', { alias: 'disable-dumping', type: 'boolean', default: false, describe: 'refuse lru_crawler metadump and stats cachedump' })
    .option('F', { alias: 'disable-flush-all', type: 'boolean', default: false, describe: 'refuse flush_all' })
    .option('A', { alias: 'enable-shutdown', type: 'boolean', default: false, describe: 'allow the text "shutdown" command (a cluster leader hands over first, as on SIGTERM)' })
    .option('t', { alias: 'threads', type: 'number', default: 4, describe: 'accepted for compatibility; one event loop serves all clients' })
    .option('U', { alias: 'udp-port', type: 'number', default: 0, describe: 'UDP port: only 0 (off) is supported' })
    .option('v', { alias: 'verbose', type: 'count', describe: 'verbose (-vv: very verbose)' })
    .option('d', { alias: 'daemon', type: 'boolean', default: false, describe: 'run in the background; returns once the daemon listens (or failed to start)' })
    .option('P', { alias: 'pidfile', type: 'string', describe: 'write the daemon\'s PID to this file (removed on a clean exit)' })
    .option('u', { alias: 'user', type: 'string', describe: 'when started as root: run as this user (switched before any port or file is opened)' })
    .option('S', { alias: 'enable-sasl', type: 'boolean', default: false, describe: 'require SASL PLAIN authentication (binary protocol only; text clients are refused)' })
    .option('sasl-pwdb', { type: 'string', describe: 'with -S: password file of user:password lines (default: env MEMCACHED_SASL_PWDB)' })
    .option('o', { alias: 'extended', type: 'string', describe: 'comma separated memcached extended options: idle_timeout=SECONDS (0 = off), lru_crawler, no_lru_crawler, lru_crawler_sleep=MICROSECONDS, lru_crawler_tocrawl=N; other memcached options are accepted and ignored' })
    .option('id', { type: 'number', describe: 'cluster mode: this node\'s id (or env SID)' })
    .option('config', { type: 'string', describe: 'cluster mode: cluster JSON file (fabric, secret, nodes); env IDS=1,2,3 alone describes a local group' })
    .option('state-dir', { type: 'string', describe: 'cluster mode: directory where this node keeps the mark that it ran in its cluster before, so that after a restart it waits to be synced before it votes (default: env STATE_DIRECTORY, which systemd\'s StateDirectory= sets)' })
    .option('write-deadline-ms', { type: 'number', default: 5000, describe: 'cluster mode: a write not proposed within this many ms of its arrival (waiting for a leader, for room in the replication backlog) fails with SERVER_ERROR and never takes effect later' })
    .option('reads', {
      choices: ['local', 'linearizable'] as const, default: 'local' as const,
      describe: 'cluster mode: local = get/gets read this node\'s copy at once (a follower\'s may lag by a few entries); linearizable = each read first waits until this node applied every write committed before it (a fence through the leader), so it sees every acknowledged write',
    })
    .option('busy-poll-us', { type: 'number', default: 0, describe: `after a client's or a peer's input, keep polling for this many microseconds instead of sleeping: lower latency at low load, for up to that much CPU per burst (0 = off, at most ${MAX_BUSY_POLL_US})` })
    .option('fabric', { choices: ['shm', 'tcp', 'verbs'] as const, default: 'shm' as const, describe: 'fabric for an IDS-only group' });
  for (const f of NO_EFFECT_FLAGS) {
    const takesValue = f.flag === 'f' || f.flag === 'n' || f.flag === 'R';
    parser = parser.option(f.flag, { alias: f.name, type: takesValue ? 'string' : 'boolean', hidden: true });
  }
  for (const f of REFUSED_FLAGS) parser = parser.option(f.flag, { alias: f.name, type: 'string', hidden: true });
  return parser
    .epilogue('Cluster mode: mucached --id N --config cluster.json   (see configs/)\nLocal cluster: mucached cluster --nodes 3\n' +
      `Accepted with no effect (memcached internals): ${NO_EFFECT_FLAGS.map((f) => `-${f.flag}`).join(' ')}. Refused: ${REFUSED_FLAGS.map((f) => `-${f.flag}`).join(' ')}.`)
    .help('h')
    .alias('h', 'help')
    .version(VERSION)
    .alias('V', 'version')
    .strict()
    .check((args) => {
      for (const f of REFUSED_FLAGS) if (args[f.flag] !== undefined) throw new Error(`-${f.flag} (--${f.name}): ${f.why}`);
      if (args.U !== 0) throw new Error('UDP is not supported: run with -U 0 (the default)');
      if (!Number.isInteger(args.p) || args.p < 0 || args.p > 65535) throw new Error(`-p ${args.p}: port must be 0..65535`);
      parseListenAddresses([args.l]);
      if (!(args.m > 0)) throw new Error(`-m ${args.m}: memory limit must be a positive number of megabytes`);
      if (!Number.isInteger(args.c) || args.c < 1) throw new Error(`-c ${args.c}: connection limit must be a positive integer`);
      if (!Number.isInteger(args.b) || args.b < 1 || args.b > 65535) throw new Error(`-b ${args.b}: backlog must be an integer from 1 to 65535`);
      if (!/^[0-7]{1,4}$/.test(args.a)) throw new Error(`-a ${args.a}: the UNIX socket mask is an octal number such as 700`);
      if (args.s !== undefined && (args.s === '' || Buffer.byteLength(args.s) > 107)) throw new Error(`-s ${args.s}: a UNIX socket path must have 1 to 107 bytes`);
      if (args.s !== undefined && (args.config !== undefined || (process.env.IDS ?? '') !== '')) {
        throw new Error('-s (UNIX socket) is for a single node: cluster nodes serve clients on the client port their config names');
      }
      if (args.u !== undefined && args.u === '') throw new Error('-u: name a user');
      // memcached uses the first character of a longer -D.
      if (args.D !== undefined && args.D === '') throw new Error('-D: name a delimiter character');
      if (args.P !== undefined && args.P === '') throw new Error('-P: name a file');
      const itemMax = parseSize(args.I);
      if (itemMax < 1024 || itemMax > 1024 * 1024 * 1024) throw new Error(`-I ${args.I}: item size must be between 1k and 1024m`);
      if (itemMax > args.m * 1024 * 1024) throw new Error(`-I ${args.I} is larger than -m ${args.m} megabytes`);
      const deadlineMs = args['write-deadline-ms'];
      if (!Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > 600_000) throw new Error(`--write-deadline-ms ${deadlineMs}: must be an integer from 1 to 600000`);
      checkedBusyPollUs(args['busy-poll-us']);
      if (args['sasl-pwdb'] !== undefined && !args.S) throw new Error('--sasl-pwdb is used only with -S (--enable-sasl)');
      if (args.S && args.B === 'ascii') throw new Error('-S (SASL) works on the binary protocol only: it cannot be combined with -B ascii');
      parseExtendedOptions(([] as string[]).concat(args.o ?? []));
      return true;
    })
    .parseSync();
}

export type DaemonArgs = ReturnType<typeof parseArgs>;

/** The no-effect flags present in `args`, with why each changes nothing. */
export function noEffectFlagsGiven(args: DaemonArgs): string[] {
  const given = args as unknown as Record<string, unknown>;
  return NO_EFFECT_FLAGS.filter((f) => given[f.flag] !== undefined && given[f.flag] !== false)
    .map((f) => `-${f.flag} (--${f.name}) accepted for compatibility with memcached, has no effect: ${f.why}`);
}
