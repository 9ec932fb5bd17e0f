#!/usr/bin/env node
/**
 * `npm run bench`: throughput and latency of single-node mucached against stock `memcached -t 1`,
 * both started here on free ports, driven by the same client in the same run (16 connections by
 * default), each workload repeated; prints the medians with ratios (and `--json`). It also runs
 * Debian's memcslap against the same memcached, to show the load generator is not the bottleneck.
 *
 * Systems are interleaved within each repetition (order alternates) so drift on a shared machine
 * hits both alike. Everything started here is stopped by PID, also on SIGINT/SIGTERM.
 */
import * as hdr from 'hdr-histogram-js';
import yargs from 'yargs';
import { MemcslapRow, writeBenchReport } from './bench-report';
import { BENCH_TARGETS, SampleSet, formatTable, median, medianRows, medianTable } from './bench-table';
import { totalErrors } from './errors';
import { memcslapBinary, runMemcslap } from './memcslap';
import { latencySummary } from './report';
import { randomSeed } from './rng';
import { runLoadParallel } from './parallel';
import type { RunOptions, RunResult } from './runner';
import { SYSTEMS, StartedServer, SystemName, startServer } from './servers';
import { CLIENT_MODES, ClientMode } from './workload';
import { WIRE_PROTOCOLS, WireProtocol } from './wire/requests';

export interface BenchOptions {
  durationSec: number;
  warmupSec: number;
  reps: number;
  connections: number;
  pipeline: number;
  keySizeBytes: number;
  valueSizeBytes: number;
  keyCount: number;
  getRatio: number;
  workloads: ClientMode[];
  protocol: WireProtocol;
  systems: SystemName[];
  memcslap: boolean;
  memcslapPerThread: number;
  json: boolean;
  seed: number;
  threads: number;
  /** Directory for bench.md, the SVG plots and bench.json; null = print only. */
  reportDir: string | null;
}

export class NotImplementedError extends Error {}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const a = yargs(argv)
    .scriptName('bench')
    .usage('npm run bench -- [options]\n\nsingle-node mucached vs stock memcached -t 1, same client, same run: medians and ratios')
    .option('duration', { type: 'number', default: 2, describe: 'seconds measured per run' })
    .option('warmup', { type: 'number', default: 0.5, describe: 'seconds of unrecorded load before each run' })
    .option('reps', { type: 'number', default: 3, describe: 'repetitions (medians are reported)' })
    .option('connections', { alias: 'c', type: 'number', default: 16 })
    .option('pipeline', { alias: 'P', type: 'number', default: 1 })
    .option('key-size', { type: 'number', default: 16 })
    .option('value-size', { type: 'number', default: 32 })
    .option('keys', { type: 'number', default: 1000 })
    .option('get-ratio', { type: 'number', default: 0.9 })
    .option('workloads', { type: 'string', default: 'puts-only,gets-only', describe: `comma list of ${CLIENT_MODES.join(', ')}` })
    .option('protocol', { choices: WIRE_PROTOCOLS as unknown as string[], default: 'text' })
    .option('systems', { type: 'string', default: SYSTEMS.join(','), describe: `comma list of ${SYSTEMS.join(', ')}` })
    .option('memcslap', { type: 'boolean', default: true, describe: 'also compare the load generator with memcslap (--no-memcslap: skip)' })
    .option('memcslap-per-thread', { type: 'number', default: 10000, describe: 'memcslap --execute-number' })
    .option('cluster', { type: 'string', describe: 'shm|tcp: add a 3-node mucached cluster (not implemented yet)' })
    .option('report-dir', { type: 'string', describe: 'also write bench.md, bench-<workload>.svg and bench.json here' })
    .option('threads', { type: 'number', default: 1, describe: 'load-generator worker threads' })
    .option('json', { type: 'boolean', default: false })
    .option('seed', { type: 'number' })
    .strict()
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new Error(msg); })
    .help()
    .version(false)
    .parseSync();
  if (a.cluster !== undefined) throw new NotImplementedError(`--cluster ${a.cluster}: 3-node cluster benchmarks are not implemented yet`);
  const list = <T extends string>(text: string, allowed: readonly T[], what: string): T[] => {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const i of items) if (!allowed.includes(i as T)) throw new Error(`unknown ${what} '${i}' (choose from ${allowed.join(', ')})`);
    if (items.length === 0) throw new Error(`no ${what} given`);
    return items as T[];
  };
  const positive = (name: string, v: number): number => {
    if (!(v > 0)) throw new Error(`--${name} must be > 0, got ${v}`);
    return v;
  };
  return {
    durationSec: positive('duration', a.duration),
    warmupSec: a.warmup,
    reps: Math.floor(positive('reps', a.reps)),
    connections: a.connections,
    pipeline: a.pipeline,
    keySizeBytes: a['key-size'],
    valueSizeBytes: a['value-size'],
    keyCount: a.keys,
    getRatio: a['get-ratio'],
    workloads: list(a.workloads, CLIENT_MODES, 'workload'),
    protocol: a.protocol as WireProtocol,
    systems: list(a.systems, SYSTEMS, 'system'),
    memcslap: a.memcslap,
    memcslapPerThread: Math.floor(positive('memcslap-per-thread', a['memcslap-per-thread'])),
    json: a.json,
    seed: a.seed ?? randomSeed(),
    threads: Math.floor(positive('threads', a.threads)),
    reportDir: a['report-dir'] ?? null,
  };
}

function loadOptions(o: BenchOptions, mode: ClientMode, port: number, seed: number): RunOptions {
  return {
    mode, host: '127.0.0.1', port, keySizeBytes: o.keySizeBytes, valueSizeBytes: o.valueSizeBytes,
    durationSec: o.durationSec, connections: o.connections, pipeline: o.pipeline, getRatio: o.getRatio,
    protocol: o.protocol, warmupSec: o.warmupSec, seed, keyCount: o.keyCount, timeoutMs: 5000, keepRaw: false,
  };
}

interface MemcslapSample { test: 'set' | 'get'; memcslapPerSec: number[]; loadgenPerSec: number[]; }

export async function benchMain(argv: string[]): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return err instanceof NotImplementedError ? 3 : 1;
  }
  if (argv.includes('--help')) return 0;
  const log = (line: string): void => { if (!o.json) process.stderr.write(line + '\n'); };
  const servers = new Map<SystemName, StartedServer>();
  const stopAll = async (): Promise<void> => { await Promise.all([...servers.values()].map((s) => s.stop())); };
  const onSignal = (): void => { void stopAll().then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const slap = o.memcslap ? memcslapBinary() : null;
    if (o.memcslap && slap === null) log('memcslap not found (libmemcached-tools): skipping the load-generator check');
    const needed = new Set<SystemName>(o.systems);
    if (slap !== null) needed.add('memcached');
    for (const s of needed) {
      const started = await startServer(s);
      servers.set(s, started);
      log(`started ${s} pid ${started.pid} on 127.0.0.1:${started.port}`);
    }
    const samples = new Map<string, SampleSet>();
    const sampleFor = (workload: string, system: string): SampleSet => {
      const k = `${workload}/${system}`;
      let s = samples.get(k);
      if (s === undefined) { s = { workload, system, throughputPerSec: [], p50Ns: [], p99Ns: [], errors: [] }; samples.set(k, s); }
      return s;
    };
    // Create rows in a stable order: workload, then systems as given.
    for (const w of o.workloads) for (const s of o.systems) sampleFor(w, s);
    const histograms = new Map<string, Map<string, hdr.Histogram>>();
    for (const w of o.workloads) histograms.set(w, new Map(o.systems.map((s) => [s, hdr.build({ numberOfSignificantValueDigits: 3 })])));
    const slapSamples: MemcslapSample[] = [{ test: 'set', memcslapPerSec: [], loadgenPerSec: [] }, { test: 'get', memcslapPerSec: [], loadgenPerSec: [] }];

    for (let rep = 0; rep < o.reps; rep++) {
      for (const workload of o.workloads) {
        const order = rep % 2 === 0 ? o.systems : [...o.systems].reverse();
        for (const system of order) {
          const server = servers.get(system) as StartedServer;
          const r: RunResult = await runLoadParallel(loadOptions(o, workload, server.port, o.seed + rep), o.threads);
          const l = latencySummary(r);
          const s = sampleFor(workload, system);
          s.throughputPerSec.push(r.throughputPerSec);
          s.p50Ns.push(l.p50);
          s.p99Ns.push(l.p99);
          s.errors.push(r.errorTotal + totalErrors(r.preloadErrors));
          histograms.get(workload)?.get(system)?.add(r.recorder.histogram);
          log(`rep ${rep + 1}/${o.reps} ${workload.padEnd(9)} ${system.padEnd(9)} ${Math.round(r.throughputPerSec)} req/s  p50 ${(l.p50 / 1000).toFixed(1)} us  p99 ${(l.p99 / 1000).toFixed(1)} us  errors ${r.errorTotal}`);
        }
      }
      if (slap !== null) {
        const mc = servers.get('memcached') as StartedServer;
        for (const sample of slapSamples) {
          const ref = await runMemcslap(slap, mc.port, sample.test, o.connections, o.memcslapPerThread);
          const mode: ClientMode = sample.test === 'set' ? 'puts-only' : 'gets-only';
          const ours = await runLoadParallel({ ...loadOptions(o, mode, mc.port, o.seed + rep), pipeline: 1, durationSec: undefined, requests: ref.operations, warmupSec: 0 }, o.threads);
          sample.memcslapPerSec.push(ref.throughputPerSec);
          sample.loadgenPerSec.push(ours.throughputPerSec);
          log(`rep ${rep + 1}/${o.reps} ${sample.test} x ${ref.operations}, ${o.connections} connections: memcslap ${Math.round(ref.throughputPerSec)} req/s, loadgen ${Math.round(ours.throughputPerSec)} req/s`);
        }
      }
    }

    const rows = medianRows([...samples.values()]);
    const slapRows: MemcslapRow[] = slap === null ? [] : slapSamples.map((s) => {
      const m = median(s.memcslapPerSec);
      const g = median(s.loadgenPerSec);
      return { test: s.test, connections: o.connections, memcslapPerSec: m, loadgenPerSec: g, ratio: g / m };
    });
    const title = `${o.protocol} protocol, key ${o.keySizeBytes} B, value ${o.valueSizeBytes} B, ${o.connections} connections x ${o.pipeline} in flight, ` +
      `${o.durationSec} s per run, median of ${o.reps}, seed ${o.seed}${o.threads > 1 ? `, ${o.threads} client threads` : ''}`;
    const json = { options: o, targets: BENCH_TARGETS, rows, samples: [...samples.values()], memcslap: slapRows };
    const files = o.reportDir === null ? [] : writeBenchReport(o.reportDir, { title, rows, memcslap: slapRows, histograms, json });
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...json, files }) + '\n');
    } else {
      process.stdout.write(`\n${title}\n${medianTable(rows)}\n`);
      if (slapRows.length > 0) {
        process.stdout.write(`\nload generator vs memcslap against memcached -t 1 (same connections, one request in flight each; should be >= 0.90x)\n`);
        process.stdout.write(formatTable(['test', 'connections', 'memcslap req/s', 'loadgen req/s', 'ratio'],
          slapRows.map((r) => [r.test, String(r.connections), String(Math.round(r.memcslapPerSec)), String(Math.round(r.loadgenPerSec)), `${r.ratio.toFixed(2)}x`])) + '\n');
      }
      if (files.length > 0) process.stdout.write(`\nwrote ${files.join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await stopAll();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  benchMain(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
