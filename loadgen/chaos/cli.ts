#!/usr/bin/env node
/**
 * `npm run chaos`: a mucached cluster (3 or 5 nodes; shm on loopback, or tcp with one network
 * namespace per node) under concurrent clients and seeded faults: SIGKILL of the leader or a
 * follower with a restart, SIGSTOP of the leader, a graceful restart with rejoin, and on tcp
 * network partitions (leader cut off, follower cut off, split-brain bridge). The history is then
 * checked for linearizability and lost writes. Exit status 0 only when nothing was lost, the
 * history is linearizable and any per-kind quota was met.
 * `npm run chaos -- --soak`: steady load, no faults, every node's RSS sampled (soak.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { stopRegisteredChildren } from '../children';
import { freePort } from '../ports';
import { randomSeed } from '../rng';
import { faultOptionsFor } from './fault-options';
import { DEFAULT_CHAOS_WRITE_DEADLINE_MS, unknownHorizonFor } from './horizon';
import { chaosJson, chaosText, passed } from './report';
import { runChaos } from './run';
import { runSoak, soakText } from './soak';
import { checkedBusyPollUs } from '../../daemon/busy-poll';
import { parseSize } from '../../daemon/size-arg';

/** Room in an item beyond a big value: its key (chaos keys are short) and memcached's item header. */
const BIG_VALUE_ITEM_ROOM_BYTES = 256;

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('chaos')
    .usage('$0 [options]\n\nFault injection on a mucached cluster with a linearizability check; --soak for a memory soak without faults.')
    .option('minutes', { type: 'number', describe: 'length of the fault phase (default 1), or of the soak (default 30)' })
    .option('fabric', { choices: ['shm', 'tcp'] as const, default: 'shm' as const, describe: 'tcp puts every node in its own network namespace (root) and adds partition faults' })
    .option('nodes', { type: 'number', default: 3, describe: 'cluster size (3 or 5)' })
    .option('faults-per-kind', { type: 'number', describe: 'inject at least this many faults of every kind (default 50 when --minutes >= 10; 0 = no quota)' })
    .option('soak', { type: 'boolean', default: false, describe: 'no faults: steady load and RSS samples of every node' })
    .option('soak-rate', { type: 'number', default: 2000, describe: 'soak: requests per second, all clients together' })
    .option('sample-seconds', { type: 'number', default: 5, describe: 'soak: seconds between RSS samples' })
    .option('seed', { type: 'number', describe: 'seed of the workload and fault schedule (printed when not given)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
    .option('clients', { type: 'number', default: 6, describe: 'concurrent clients' })
    .option('keys', { type: 'number', default: 8, describe: 'size of the key space' })
    .option('big-value-bytes', { type: 'number', default: 0, describe: 'also write values of this size (larger than a log slot, 4 KiB: they replicate as multi-slot entries); 0 = small values only' })
    .option('big-value-percent', { type: 'number', default: 25, describe: 'share of sets and cas that write a big value' })
    .option('request-timeout-ms', { type: 'number', default: 1000, describe: 'a request without a reply by then has an unknown outcome' })
    .option('reads', { choices: ['local', 'linearizable'] as const, default: 'local' as const, describe: "the daemons' --reads; linearizable: gets are checked for linearizability too (local: recorded, not checked, as followers may lag)" })
    .option('write-deadline-ms', { type: 'number', default: DEFAULT_CHAOS_WRITE_DEADLINE_MS, describe: "the daemons' --write-deadline-ms: past it a write is never proposed" })
    .option('unknown-horizon-ms', { type: 'number', describe: 'checker assumption: no request takes effect later than this after it was sent (default: write deadline + longest pause + a take-over margin)' })
    .option('busy-poll-us', { type: 'number', default: 0, describe: "the daemons' --busy-poll-us (0 = off, their default)" })
    .option('item-size', { type: 'string', default: '64k', describe: "the daemons' -I (max item size; it also sizes the replicated log)" })
    .option('log-dir', { type: 'string', describe: 'where node logs go when the run fails (default: a new directory under the temp dir)' })
    .option('history', { type: 'string', describe: 'also write the recorded history (JSON) to this file' })
    .option('cli', { type: 'string', default: path.resolve(__dirname, '..', '..', 'daemon', 'cli.js'), describe: 'the daemon to run' })
    .check((a) => {
      if (a.minutes !== undefined && !(a.minutes > 0)) throw new Error('--minutes must be > 0');
      if (a.nodes !== 3 && a.nodes !== 5) throw new Error('--nodes must be 3 or 5');
      checkedBusyPollUs(a['busy-poll-us']);
      if (a['faults-per-kind'] !== undefined && !(Number.isInteger(a['faults-per-kind']) && a['faults-per-kind'] >= 0)) throw new Error('--faults-per-kind must be an integer >= 0');
      // An item counts its key and header against -I: a value this close would be refused as too
      // large, and a refused set deletes the old item (memcached's rule), which the history cannot show.
      const itemBytes = parseSize(a['item-size']);
      if (a['big-value-bytes'] > 0 && a['big-value-bytes'] + BIG_VALUE_ITEM_ROOM_BYTES > itemBytes) {
        throw new Error(`--big-value-bytes ${a['big-value-bytes']} does not fit the daemons' -I ${a['item-size']} (${itemBytes} bytes, key and item header included): raise --item-size`);
      }
      return true;
    })
    .strict()
    .help()
    .alias('h', 'help')
    .parse();
  const seed = argv.seed ?? randomSeed();
  if (!argv.json) process.stderr.write(`chaos: seed ${seed}\n`);
  const tty = !argv.json && process.stderr.isTTY === true;
  // process.exit runs the 'exit' hooks that remove network namespaces.
  const onSignal = (): void => { void stopRegisteredChildren(2000).then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const daemonArgs = ['-I', argv['item-size'], '--write-deadline-ms', String(argv['write-deadline-ms']), '--reads', argv.reads, '--busy-poll-us', String(argv['busy-poll-us'])];
  if (argv.soak) {
    const r = await runSoak({
      cli: argv.cli, fabric: argv.fabric, nodes: argv.nodes, durationMs: (argv.minutes ?? 30) * 60_000, sampleMs: argv['sample-seconds'] * 1000,
      seed, clients: argv.clients, opsPerSec: argv['soak-rate'], daemonArgs, freePort,
      onSample: tty ? (s) => process.stderr.write(`\r${(s.elapsedMs / 1000).toFixed(0)} s  ${s.ops} ops  RSS ${s.rssKiB.map((k) => `${(k / 1024).toFixed(0)}M`).join(' ')}   `) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    process.stdout.write(argv.json ? JSON.stringify(r, null, 2) + '\n' : soakText(r) + '\n');
    return r.passed ? 0 : 1;
  }
  const durationMs = (argv.minutes ?? 1) * 60_000;
  const faults = faultOptionsFor({ fabric: argv.fabric, durationMs, faultsPerKind: argv['faults-per-kind'], recoverTimeoutMs: 60_000 });
  const result = await runChaos({
    cli: argv.cli,
    fabric: argv.fabric,
    nodes: argv.nodes,
    durationMs,
    seed,
    workload: {
      clients: argv.clients, keys: argv.keys, requestTimeoutMs: argv['request-timeout-ms'], maxOpsPerClient: 50_000_000,
      bigValueBytes: argv['big-value-bytes'], bigValuePercent: argv['big-value-percent'], strongReads: argv.reads === 'linearizable',
    },
    faults,
    unknownHorizonMs: argv['unknown-horizon-ms'] ?? unknownHorizonFor(argv['write-deadline-ms'], faults.maxPauseMs),
    daemonArgs,
    freePort,
    logDir: argv['log-dir'] ?? path.join(os.tmpdir(), `mucached-chaos-logs-${seed}-${process.pid}`),
    onProgress: tty ? (p) => process.stderr.write(`\r${(p.elapsedMs / 1000).toFixed(0)} s  ${p.ops} ops  ${p.faults} faults   `) : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (argv.history !== undefined) {
    // Infinity (an unknown outcome) is not JSON: written as null.
    fs.writeFileSync(argv.history, JSON.stringify(result.history.map((op) => ({ ...op, returnMs: op.returnMs === Infinity ? null : op.returnMs }))));
  }
  process.stdout.write(argv.json ? JSON.stringify(chaosJson(result), null, 2) + '\n' : chaosText(result) + '\n');
  return passed(result) ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, async (e: Error) => {
  process.stderr.write(`chaos: ${e.stack ?? e.message}\n`);
  await stopRegisteredChildren(2000);
  process.exitCode = 2;
});
