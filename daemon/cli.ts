#!/usr/bin/env node
/**
 * `mucached`: the daemon. Accepts memcached's flags (cli-args.ts) so existing service files, an
 * existing memcached.conf (-d -u -P included) and habits carry over.
 */
import { compileLazilyAgain } from '../mu-core/compile-eagerly';
import { ClusterNode, clusterNodeFromArgs, loadOpenFabric } from './cluster/node-args';
import { runLocalCluster } from './cluster/local-cluster';
import { MembershipMark, readOrCreateMark } from './cluster/membership-mark';
import { Replica } from './cluster/replica';
import type { Fabric, FabricOptions } from '../binding/fabric';
import { muStats, watchRole, writeLatencyDump } from './cluster/observe';
import { Logger, LogLevel } from './log';
import { saslFromArgs, SaslSettings } from './sasl/settings';
import { defaultCrawlerSettings } from './cache/crawler';
import { setBusyPollUs } from './busy-poll';
import { CacheServer } from './server';
import { noEffectFlagsGiven, parseArgs, parseExtendedOptions } from './cli-args';
import { parseSize } from './size-arg';
import { daemonize, DaemonChildLog, isDaemonChild } from './process/daemonize';
import { removePidFile, writePidFile } from './process/pid-file';
import { runAsUser, RunAsUserError } from './process/run-as-user';
import { TlsSettings, tlsSettingsFrom } from './tls-settings';

/**
 * A fabric that cannot open (no RDMA device, this node already running on shm, a port taken) stops
 * the start with one line naming it, not a stack trace. A missing or unnamed RDMA device is the
 * host's configuration (EX_CONFIG, which the systemd unit does not restart); anything else may
 * pass (EX_OSERR).
 */
function openFabricOrExit(log: Logger, open: (o: FabricOptions) => Fabric): (o: FabricOptions) => Fabric {
  return (options) => {
    try {
      return open(options);
    } catch (err) {
      const message = (err as Error).message;
      log.info(`cannot open the ${options.kind} fabric: ${message}`);
      process.exit(/no RDMA device/.test(message) ? 78 : 71);
    }
  };
}

async function main(): Promise<void> {
  compileLazilyAgain();
  if (process.argv[2] === 'cluster') {
    await runLocalCluster(process.argv.slice(3));
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  // -d: the foreground process waits here for the daemon to listen, then exits (never returns).
  if (args.d && !isDaemonChild()) await daemonize((args.v ?? 0) > 0);
  const daemonChild = isDaemonChild() ? new DaemonChildLog() : undefined;
  // A log reader that went away (a closed pipe: the process that started us died) must not take
  // the daemon down: an unhandled EPIPE on stderr crashed it on its next log line, which is the
  // shutdown line, so it left without closing its fabric (shm region files stayed behind).
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const log = new Logger(Math.min(2, args.v ?? 0) as LogLevel, daemonChild?.sink);
  if (args.u !== undefined) {
    try {
      log.info(runAsUser(args.u));
    } catch (err) {
      log.info((err as Error).message);
      process.exit(err instanceof RunAsUserError ? err.exitCode : 71);
    }
  }
  for (const note of noEffectFlagsGiven(args)) log.info(note);
  let sasl: SaslSettings | undefined;
  try {
    sasl = saslFromArgs(args, process.env, log);
  } catch (err) {
    log.info((err as Error).message);
    process.exit(78); // EX_CONFIG
  }
  const extended = parseExtendedOptions(([] as string[]).concat(args.o ?? []));
  for (const option of extended.ignored) log.info(`-o ${option}: accepted for compatibility with memcached, has no effect`);
  let tls: TlsSettings | undefined;
  try {
    const fromArgs = tlsSettingsFrom(args.Z, extended.ssl);
    tls = fromArgs.settings;
    for (const note of fromArgs.notes) log.info(note);
  } catch (err) {
    log.info(`cannot start TLS: ${(err as Error).message}`);
    process.exit(78); // EX_CONFIG
  }
  let node: ClusterNode | undefined;
  try {
    node = clusterNodeFromArgs(args, process.env);
  } catch (err) {
    log.info((err as Error).message);
    process.exit(78); // EX_CONFIG
  }
  let mark: MembershipMark | undefined;
  if (node) {
    try {
      mark = readOrCreateMark(args['state-dir'] ?? process.env.STATE_DIRECTORY, node.config.cluster, node.self.id);
    } catch (err) {
      log.info((err as Error).message);
      process.exit(73); // EX_CANTCREAT
    }
    log.info(mark.said);
    // The config decides where this node listens, unless -p/-l were given explicitly.
    if (!process.argv.some((a) => a === '-p' || a.startsWith('--port'))) args.p = node.self.clientPort;
    if (!process.argv.some((a) => a === '-l' || a.startsWith('--listen'))) args.l = node.self.host;
  }
  setBusyPollUs(args['busy-poll-us']);
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
      evictions: !args.M,
      casEnabled: !args.C,
      flushEnabled: !args.F,
      shutdownEnabled: args.A,
      unixSocket: args.s,
      unixMask: args.a,
      tcpBacklog: args.b,
      bindingProtocol: args.B,
      prefixDelimiter: args.D,
      tls,
      dumpEnabled: !args.X,
      watchEnabled: !args.W,
      crawler: { ...defaultCrawlerSettings(), ...extended.crawler },
      trackSizes: extended.trackSizes,
    },
    log,
    node && ((counters, onOutOfMemory) => {
      replica = new Replica({
        config: node!.config, self: node!.self, memoryLimitBytes: Math.floor(args.m * 1024 * 1024),
        itemSizeMaxBytes: parseSize(args.I), counters, log, leaderWaitMs: args['write-deadline-ms'],
        evictions: !args.M, casEnabled: !args.C, onOutOfMemory, startedBefore: mark?.startedBefore,
      }, openFabricOrExit(log, loadOpenFabric()));
      const engine = replica.engine;
      return {
        engine, muStats: () => muStats(replica!),
        // Local reads, too, wait for the barrier while this node has not caught up with the group
        // (restarted empty, or still starting): its copy would answer misses for what the group holds.
        readBarrier: args.reads === 'linearizable' ? () => engine.reads.wait() : () => (replica!.mu.historySynced ? undefined : engine.reads.wait()),
      };
    }),
  );
  if (sasl) server.ctx.sasl = sasl;
  try {
    if (replica) {
      await replica.start();
      watchRole(replica, log);
      process.on('SIGUSR1', () => log.info(`wrote ${writeLatencyDump(replica!)}`));
      // The operator's way out of a group that cannot elect anyone (see MuNode.forceElection).
      process.on('SIGUSR2', () => log.info(`SIGUSR2: ${replica!.mu.forceElection()}`));
    }
    const where = await server.listen();
    const protocols = (args.B === 'auto' && !sasl ? 'text, meta, binary' : args.B === 'ascii' ? 'text, meta' : 'binary') + (tls ? ' over TLS' : '');
    const polling = args['busy-poll-us'] > 0 ? `; polls ${args['busy-poll-us']} us after input` : '';
    log.info(`pid ${process.pid} listening on ${where} (${protocols}; -m ${args.m} -c ${args.c} -I ${args.I}${polling})`);
  } catch (err) {
    // A TCP failure begins with the interface at fault (server.ts listen).
    log.info(`cannot start on ${args.s !== undefined ? `unix:${args.s}: ` : ''}${(err as Error).message}`);
    process.exit(71); // EX_OSERR, as memcached exits when it cannot bind
  }
  if (args.P !== undefined) {
    // As memcached: a PID file that cannot be written is reported, not fatal.
    try {
      writePidFile(args.P);
    } catch (err) {
      log.info(`could not write the PID file ${args.P}: ${(err as Error).message}`);
    }
  }
  daemonChild?.ready();
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
        if (args.P !== undefined) removePidFile(args.P);
      } finally {
        process.exit(0);
      }
    }, 2000);
    forced.unref();
    void server.close().then(() => replica?.handOff(log)).then(() => {
      if (args.P !== undefined) removePidFile(args.P);
      log.info('stopped');
      process.exit(0);
    });
  };
  if (args.A) server.ctx.shutdown = stop;
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
