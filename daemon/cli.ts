#!/usr/bin/env node
/**
 * `mucached`: the daemon's command line. Accepts memcached's flags so existing service files and
 * habits carry over (-p -l -m -c -I -t -v -vv -U 0).
 */
import { compileLazilyAgain } from '../mu-core/compile-eagerly';
import yargs from 'yargs';
import { ClusterNode, clusterNodeFromArgs, loadOpenFabric } from './cluster/node-args';
import { runLocalCluster } from './cluster/local-cluster';
import { Replica } from './cluster/replica';
import { muStats, watchRole, writeLatencyDump } from './cluster/observe';
import { Logger, LogLevel } from './log';
import { saslFromArgs, SaslSettings } from './sasl/settings';
import { CacheServer, VERSION } from './server';

import { parseSize } from './size-arg';

/** memcached's -o suboptions that mucached accepts for compatibility but that change nothing here. */
const IGNORED_SUBOPTIONS = new Set([
  'maxconns_fast', 'no_maxconns_fast', 'hashpower', 'tail_repair_time', 'hash_algorithm', 'lru_crawler', 'no_lru_crawler',
  'lru_crawler_sleep', 'lru_crawler_tocrawl', 'read_buf_mem_limit', 'lru_maintainer', 'no_lru_maintainer', 'hot_lru_pct',
  'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temporary_ttl', 'slab_chunk_max', 'watcher_logbuf_size',
  'worker_logbuf_size', 'track_sizes', 'no_hashexpand', 'modern', 'no_modern', 'slab_reassign', 'slab_automove',
  'slab_automove_ratio', 'slab_automove_window', 'no_inline_ascii_resp', 'no_chunked_items', 'sock_cookie_id',
]);

export interface ExtendedOptions {
  idleTimeoutSec: number;
  /** Suboptions accepted and ignored (the caller warns about them). */
  ignored: string[];
}

/**
 * memcached's `-o a,b=1` lists (the flag may repeat). Unknown suboptions are refused with memcached's
 * own words (it exits too); known ones we do not implement are accepted and reported as ignored.
 */
export function parseExtendedOptions(lists: string[]): ExtendedOptions {
  const out: ExtendedOptions = { idleTimeoutSec: 0, ignored: [] };
  for (const item of lists.flatMap((list) => list.split(','))) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (name === 'idle_timeout') {
      if (value === undefined) throw new Error('Missing numeric argument for idle_timeout');
      if (!/^\d+$/.test(value) || Number(value) > 2 ** 31 - 1) throw new Error(`-o idle_timeout=${value}: use a whole number of seconds (0 = off)`);
      out.idleTimeoutSec = Number(value);
    } else if (IGNORED_SUBOPTIONS.has(name) || name.startsWith('ext_') || name.startsWith('ssl_')) {
      out.ignored.push(item);
    } else {
      throw new Error(`Illegal suboption "${item}"`);
    }
  }
  return out;
}

export function parseArgs(argv: string[]) {
  return yargs(argv)
    .scriptName('mucached')
    .usage('$0 [options]\n\nA memcached-compatible cache. Speaks the text, meta and binary protocols on one TCP port.')
    .option('p', { alias: 'port', type: 'number', default: 11211, describe: 'TCP port to listen on (0 = any free port)' })
    .option('l', { alias: 'listen', type: 'string', default: '127.0.0.1', describe: 'interface to listen on' })
    .option('m', { alias: 'memory-limit', type: 'number', default: 64, describe: 'item memory in megabytes' })
    .option('c', { alias: 'conn-limit', type: 'number', default: 1024, describe: 'max simultaneous connections' })
    .option('I', { alias: 'max-item-size', type: 'string', default: '1m', describe: 'max item size (bytes, k or m suffix)' })
    .option('t', { alias: 'threads', type: 'number', default: 4, describe: 'accepted for compatibility; one event loop serves all clients' })
    .option('U', { alias: 'udp-port', type: 'number', default: 0, describe: 'UDP port: only 0 (off) is supported' })
    .option('v', { alias: 'verbose', type: 'count', describe: 'verbose (-vv: very verbose)' })
    .option('S', { alias: 'enable-sasl', type: 'boolean', default: false, describe: 'require SASL PLAIN authentication (binary protocol only; text clients are refused)' })
    .option('sasl-pwdb', { type: 'string', describe: 'with -S: password file of user:password lines (default: env MEMCACHED_SASL_PWDB)' })
    .option('o', { alias: 'extended', type: 'string', describe: 'comma separated memcached extended options: idle_timeout=SECONDS (0 = off); other memcached options are accepted and ignored' })
    .option('id', { type: 'number', describe: 'cluster mode: this node\'s id (or env SID)' })
    .option('config', { type: 'string', describe: 'cluster mode: cluster JSON file (fabric, secret, nodes); env IDS=1,2,3 alone describes a local group' })
    .option('write-deadline-ms', { type: 'number', default: 5000, describe: 'cluster mode: a write not proposed within this many ms of its arrival (waiting for a leader, for room in the replication backlog) fails with SERVER_ERROR and never takes effect later' })
    .option('fabric', { choices: ['shm', 'tcp', 'verbs'] as const, default: 'shm' as const, describe: 'fabric for an IDS-only group' })
    .epilogue('Cluster mode: mucached --id N --config cluster.json   (see configs/)\nLocal cluster: mucached cluster --nodes 3')
    .help('h')
    .alias('h', 'help')
    .version(VERSION)
    .strict()
    .check((args) => {
      if (args.U !== 0) throw new Error('UDP is not supported: run with -U 0 (the default)');
      if (!Number.isInteger(args.p) || args.p < 0 || args.p > 65535) throw new Error(`-p ${args.p}: port must be 0..65535`);
      if (!(args.m > 0)) throw new Error(`-m ${args.m}: memory limit must be a positive number of megabytes`);
      if (!Number.isInteger(args.c) || args.c < 1) throw new Error(`-c ${args.c}: connection limit must be a positive integer`);
      const itemMax = parseSize(args.I);
      if (itemMax < 1024 || itemMax > 1024 * 1024 * 1024) throw new Error(`-I ${args.I}: item size must be between 1k and 1024m`);
      if (itemMax > args.m * 1024 * 1024) throw new Error(`-I ${args.I} is larger than -m ${args.m} megabytes`);
      const deadlineMs = args['write-deadline-ms'];
      if (!Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > 600_000) throw new Error(`--write-deadline-ms ${deadlineMs}: must be an integer from 1 to 600000`);
      if (args['sasl-pwdb'] !== undefined && !args.S) throw new Error('--sasl-pwdb is used only with -S (--enable-sasl)');
      parseExtendedOptions(([] as string[]).concat(args.o ?? []));
      return true;
    })
    .parseSync();
}

async function main(): Promise<void> {
  compileLazilyAgain();
  if (process.argv[2] === 'cluster') {
    await runLocalCluster(process.argv.slice(3));
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  // A log reader that went away (a closed pipe: the process that started us died) must not take
  // the daemon down: an unhandled EPIPE on stderr crashed it on its next log line, which is the
  // shutdown line, so it left without closing its fabric (shm region files stayed behind).
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const log = new Logger(Math.min(2, args.v ?? 0) as LogLevel);
  let sasl: SaslSettings | undefined;
  try {
    sasl = saslFromArgs(args, process.env, log);
  } catch (err) {
    log.info((err as Error).message);
    process.exit(78); // EX_CONFIG
  }
  const extended = parseExtendedOptions(([] as string[]).concat(args.o ?? []));
  for (const option of extended.ignored) log.info(`-o ${option}: accepted for compatibility with memcached, has no effect`);
  let node: ClusterNode | undefined;
  try {
    node = clusterNodeFromArgs(args, process.env);
  } catch (err) {
    log.info((err as Error).message);
    process.exit(78); // EX_CONFIG
  }
  if (node) {
    // The config decides where this node listens, unless -p/-l were given explicitly.
    if (!process.argv.some((a) => a === '-p' || a.startsWith('--port'))) args.p = node.self.clientPort;
    if (!process.argv.some((a) => a === '-l' || a.startsWith('--listen'))) args.l = node.self.host;
  }
  let replica: Replica | undefined;
  const server = new CacheServer(
    {
      port: args.p,
      listenHost: args.l,
      memoryLimitBytes: Math.floor(args.m * 1024 * 1024),
      maxConnections: args.c,
      itemSizeMaxBytes: parseSize(args.I),
      threads: args.t,
      verbosity: args.v ?? 0,
      idleTimeoutSec: extended.idleTimeoutSec,
      saslEnabled: sasl !== undefined,
    },
    log,
    node && ((counters) => {
      replica = new Replica({
        config: node!.config, self: node!.self, memoryLimitBytes: Math.floor(args.m * 1024 * 1024),
        itemSizeMaxBytes: parseSize(args.I), counters, log, leaderWaitMs: args['write-deadline-ms'],
      }, loadOpenFabric());
      return { engine: replica.engine, muStats: () => muStats(replica!) };
    }),
  );
  if (sasl) server.ctx.sasl = sasl;
  try {
    if (replica) {
      await replica.start();
      watchRole(replica, log);
      process.on('SIGUSR1', () => log.info(`wrote ${writeLatencyDump(replica!)}`));
    }
    const address = await server.listen();
    log.info(`pid ${process.pid} listening on ${address.address}:${address.port} (text, meta, binary; -m ${args.m} -c ${args.c} -I ${args.I})`);
  } catch (err) {
    log.info(`cannot start on ${args.l}:${args.p}: ${(err as Error).message}`);
    process.exit(71); // EX_OSERR, as memcached exits when it cannot bind
  }
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${why}, shutting down`);
    const forced = setTimeout(() => {
      // Close the fabric even so: on shm that unlinks this node's region files, and peers see it gone.
      log.info('shutdown took over 2 s; closing the fabric and exiting');
      try {
        replica?.stop();
      } finally {
        process.exit(0);
      }
    }, 2000);
    forced.unref();
    void server.close().then(() => replica?.handOff(log)).then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM received'));
  process.on('SIGINT', () => stop('SIGINT received'));
  watchParent(process.env, stop);
}

/**
 * MUCACHED_EXIT_WITH_PARENT=1 (set by the tools that start local clusters: `mucached cluster`, the
 * chaos runner): stop as on SIGTERM once the process that started us is gone (we were reparented),
 * so a tool that crashes does not leave a cluster running.
 */
function watchParent(env: NodeJS.ProcessEnv, stop: (why: string) => void): void {
  if (env.MUCACHED_EXIT_WITH_PARENT !== '1') return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop(`parent process ${parent} exited`);
  }, 500);
  timer.unref();
}

if (require.main === module) void main();
