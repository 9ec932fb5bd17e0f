/**
 * The command line shared by memcached-puts-only, memcached-gets-only and memcached-puts-gets:
 * the old positional form `<key_size> <value_size> <host> <port>` plus options.
 *
 * Exit status: 0 = run complete without errors, 2 = run complete but errors were counted (they
 * are printed), 1 = bad arguments or the run could not start (e.g. nothing listening).
 */
import yargs from 'yargs';
import { progressBar } from './progress';
import { randomSeed } from './rng';
import { summaryJson, summaryText, writeLatencyFiles } from './report';
import { runLoadParallel } from './parallel';
import type { RunOptions } from './runner';
import type { ClientMode } from './workload';
import { WIRE_PROTOCOLS, WireProtocol } from './wire/requests';

export const DEFAULT_REQUESTS = 100_000;

export interface ClientCommand {
  run: RunOptions;
  threads: number;
  json: boolean;
  progress: boolean;
  /** Directory for memcached-cli.txt and .hgrm; null = write nothing. */
  outDir: string | null;
}

export function parseClientArgs(mode: ClientMode, argv: string[]): ClientCommand {
  const args = yargs(argv)
    .scriptName(`memcached-${mode}`)
    .command('$0 <key_size> <value_size> <host> <port>', `Benchmark client (${mode}): end-to-end latency of every request, HdrHistogram summary.`)
    .positional('key_size', { type: 'number', describe: 'key length in bytes (1..250)' })
    .positional('value_size', { type: 'number', describe: 'value length in bytes' })
    .positional('host', { type: 'string' })
    .positional('port', { type: 'number' })
    .option('requests', { alias: 'n', type: 'number', describe: `measured requests in total (default ${DEFAULT_REQUESTS} unless --duration)` })
    .option('duration', { alias: 'd', type: 'number', describe: 'measure for this many seconds instead of a request count' })
    .option('connections', { alias: 'c', type: 'number', default: 1 })
    .option('pipeline', { alias: 'P', type: 'number', default: 1, describe: 'outstanding requests per connection' })
    .option('get-ratio', { type: 'number', default: 0.9, describe: 'puts-gets: fraction of gets' })
    .option('protocol', { choices: WIRE_PROTOCOLS as unknown as string[], default: 'text' })
    .option('warmup', { type: 'number', default: 0, describe: 'seconds of unrecorded load before measuring' })
    .option('seed', { type: 'number', describe: 'seed for keys, value and operation mix (default: random, printed)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON, no progress bar' })
    .option('rate', { type: 'number', describe: 'open loop: requests/s in total, latency from the intended send time' })
    .option('threads', { type: 'number', default: 1, describe: 'worker threads sharing the connections' })
    .option('keys', { type: 'number', default: 1000, describe: 'distinct keys' })
    .option('timeout-ms', { type: 'number', default: 5000, describe: 'a request unanswered this long counts as a timeout' })
    .option('out-dir', { type: 'string', default: '.', describe: 'where memcached-cli.txt and memcached-cli.hgrm go' })
    .option('files', { type: 'boolean', default: true, describe: 'write the latency files (--no-files: do not)' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bar on a terminal (--no-progress: never)' })
    .strict()
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new Error(msg); })
    .help()
    .version(false)
    .parseSync();

  const requests = args.requests ?? (args.duration === undefined ? DEFAULT_REQUESTS : undefined);
  if (args.requests !== undefined && args.duration !== undefined) throw new Error('give either --requests or --duration, not both');
  return {
    run: {
      mode,
      keySizeBytes: args.key_size as number,
      valueSizeBytes: args.value_size as number,
      host: args.host as string,
      port: args.port as number,
      requests,
      durationSec: args.duration,
      connections: args.connections,
      pipeline: args.pipeline,
      getRatio: args['get-ratio'],
      protocol: args.protocol as WireProtocol,
      warmupSec: args.warmup,
      seed: args.seed ?? randomSeed(),
      ratePerSec: args.rate,
      keyCount: args.keys,
      timeoutMs: args['timeout-ms'],
      keepRaw: args.files,
    },
    threads: args.threads,
    json: args.json,
    progress: args.progress && !args.json,
    outDir: args.files ? args['out-dir'] : null,
  };
}

export async function clientMain(mode: ClientMode, argv: string[]): Promise<number> {
  let cmd: ClientCommand;
  try {
    cmd = parseClientArgs(mode, argv);
  } catch (err) {
    process.stderr.write(`memcached-${mode}: ${(err as Error).message}\n`);
    return 1;
  }
  if (argv.includes('--help')) return 0;
  const progress = progressBar(cmd.progress);
  try {
    const result = await runLoadParallel({ ...cmd.run, onMeasureStart: (snapshot, total, dur) => progress.start(snapshot, total, dur) }, cmd.threads);
    progress.stop();
    const files = cmd.outDir === null ? [] : writeLatencyFiles(cmd.outDir, result);
    const o = cmd.run;
    const title = `memcached-${mode} ${o.host}:${o.port} ${o.protocol} key ${o.keySizeBytes} B value ${o.valueSizeBytes} B, ` +
      `${o.connections} conn x ${o.pipeline} in flight${cmd.threads > 1 ? ` on ${cmd.threads} threads` : ''}, ${o.ratePerSec === undefined ? 'closed loop' : `open loop ${o.ratePerSec} req/s`}`;
    if (cmd.json) {
      process.stdout.write(JSON.stringify(summaryJson(result, { client: `memcached-${mode}`, options: { ...o, threads: cmd.threads }, files })) + '\n');
    } else {
      process.stdout.write(summaryText(title, result) + '\n');
      if (files.length > 0) process.stdout.write(`  wrote ${files.join(', ')}\n`);
    }
    return result.errorTotal > 0 || Object.keys(result.preloadErrors).length > 0 ? 2 : 0;
  } catch (err) {
    progress.stop();
    process.stderr.write(`memcached-${mode}: ${(err as Error).message}\n`);
    return 1;
  }
}

/** Entry point of the three bin scripts. */
export function runClientBin(mode: ClientMode): void {
  clientMain(mode, process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
