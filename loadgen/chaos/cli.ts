#!/usr/bin/env node
/**
 * `npm run chaos`: a 3-node mucached cluster on the shm fabric under concurrent clients and seeded
 * faults (SIGKILL of the leader or a follower with a restart, SIGSTOP of the leader past the
 * failure detector's timeout), then the history checked for linearizability and lost writes.
 * Exit status 0 only when nothing was lost and the history is linearizable.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { stopRegisteredChildren } from '../children';
import { randomSeed } from '../rng';
import { chaosJson, chaosText, passed } from './report';
import { runChaos } from './run';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('chaos')
    .usage('$0 [options]\n\nFault injection on a 3-node mucached cluster (shm fabric) with a linearizability check.')
    .option('minutes', { type: 'number', default: 1, describe: 'length of the fault phase' })
    .option('seed', { type: 'number', describe: 'seed of the workload and fault schedule (printed when not given)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
    .option('clients', { type: 'number', default: 6, describe: 'concurrent clients' })
    .option('keys', { type: 'number', default: 8, describe: 'size of the key space' })
    .option('request-timeout-ms', { type: 'number', default: 1000, describe: 'a request without a reply by then has an unknown outcome' })
    .option('unknown-horizon-ms', { type: 'number', default: 3000, describe: 'checker assumption: no request takes effect later than this after it was sent (smaller is stricter)' })
    .option('item-size', { type: 'string', default: '64k', describe: "the daemons' -I (max item size; it also sizes the replicated log)" })
    .option('history', { type: 'string', describe: 'also write the recorded history (JSON) to this file' })
    .option('cli', { type: 'string', default: path.resolve(__dirname, '..', '..', 'daemon', 'cli.js'), describe: 'the daemon to run' })
    .check((a) => { if (!(a.minutes > 0)) throw new Error('--minutes must be > 0'); return true; })
    .strict()
    .help()
    .alias('h', 'help')
    .parse();
  const seed = argv.seed ?? randomSeed();
  if (!argv.json) process.stderr.write(`chaos: seed ${seed}\n`);
  const tty = !argv.json && process.stderr.isTTY === true;
  const onSignal = (): void => { void stopRegisteredChildren(2000).then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const result = await runChaos({
    cli: argv.cli,
    durationMs: argv.minutes * 60_000,
    seed,
    workload: { clients: argv.clients, keys: argv.keys, requestTimeoutMs: argv['request-timeout-ms'], maxOpsPerClient: 50_000_000 },
    faults: { minGapMs: 500, maxGapMs: 1500, minPauseMs: 450, maxPauseMs: 800, recoverTimeoutMs: 60_000 },
    unknownHorizonMs: argv['unknown-horizon-ms'],
    maxCheckStepsPerKey: 20_000_000,
    daemonArgs: ['-I', argv['item-size']],
    freePort,
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
