#!/usr/bin/env node
/**
 * `npm run bench` and `loadgen compare`: throughput and latency of mucached (single node, and with
 * --cluster a 3-node cluster through its leader) against stock `memcached -t 1`, all started here on
 * free ports, driven by the same client in the same run, each workload repeated; prints the medians
 * with ratios (and `--json`), and with --report-dir writes a markdown report with plots. The bench
 * also runs Debian's memcslap against the same memcached, to show the load generator is not the
 * bottleneck. `compare` is the same runner with other defaults: all four systems, puts-only, a
 * report directory, no memcslap.
 *
 * Everything started here is stopped by PID, also on SIGINT/SIGTERM.
 */
import yargs from 'yargs';
import { MemcslapRow, replicationRows, writeBenchReport } from './bench-report';
import { runCampaign } from './bench-run';
import { BENCH_TARGETS, REPLICATED_SET_TARGETS, formatTable, median, medianRows, medianTable, targetLegend } from './bench-table';
import { CPU_TABLE_HEADER, CPU_TABLE_TITLE, cpuCells, cpuRows } from './process-cpu';
import { stopRegisteredChildren } from './children';
import { CLUSTER_FABRICS, ClusterFabric } from './cluster-config';
import { memcslapBinary, runMemcslap } from './memcslap';
import { checkedBusyPollUs } from '../daemon/busy-poll';
import { randomSeed } from './rng';
import { runLoadParallel } from './parallel';
import type { RunOptions } from './runner';
import { ALL_SYSTEMS, SYSTEMS, StartedServer, SystemName, clusterFabricOf, clusterSystem, isViaFollower, startServer } from './servers';
import { CLIENT_MODES, ClientMode } from './workload';
import { WIRE_PROTOCOLS, WireProtocol } from './wire/requests';

export type BenchCommand = 'bench' | 'compare';

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
  /** Directory for bench.md (compare.md), the SVG plots and the JSON; null = print only. */
  reportDir: string | null;
  leaderTimeoutSec: number;
  /** mucached systems run with --busy-poll-us this (0: not given). */
  busyPollUs: number;
  command: BenchCommand;
}

const DEFAULTS: Record<BenchCommand, { workloads: string; systems: string; memcslap: boolean; reportDir?: string; usage: string }> = {
  bench: {
    workloads: 'puts-only,gets-only', systems: SYSTEMS.join(','), memcslap: true,
    usage: 'npm run bench -- [options]\n\nmucached (single node; --cluster: a 3-node cluster) vs stock memcached -t 1, same client, same run: medians and ratios',
  },
  compare: {
    // The four systems, each cluster through its leader; --systems or --via-follower add the others.
    workloads: 'puts-only', systems: ALL_SYSTEMS.filter((s) => !isViaFollower(s)).join(','), memcslap: false, reportDir: 'compare-out',
    usage: 'loadgen compare [options]\n\nmemcached -t 1, single-node mucached and 3-node mucached clusters (shm, tcp), same workload, repeated: a markdown report with medians, ratios, a latency plot and the leaders\' replication latency',
  },
};

export function parseBenchArgs(argv: string[], command: BenchCommand = 'bench'): BenchOptions {
  const d = DEFAULTS[command];
  const a = yargs(argv)
    .scriptName(command === 'bench' ? 'bench' : 'loadgen compare')
    .usage(d.usage)
    .option('duration', { type: 'number', default: 2, describe: 'seconds measured per run' })
    .option('warmup', { type: 'number', default: 0.5, describe: 'seconds of unrecorded load before each run' })
    .option('reps', { type: 'number', default: 3, describe: 'repetitions (medians are reported)' })
    .option('connections', { alias: 'c', type: 'number', default: 16 })
    .option('pipeline', { alias: 'P', type: 'number', default: 1 })
    .option('key-size', { type: 'number', default: 16 })
    .option('value-size', { type: 'number', default: 32 })
    .option('keys', { type: 'number', default: 1000 })
    .option('get-ratio', { type: 'number', default: 0.9 })
    .option('workloads', { type: 'string', default: d.workloads, describe: `comma list of ${CLIENT_MODES.join(', ')}` })
    .option('protocol', { choices: WIRE_PROTOCOLS as unknown as string[], default: 'text' })
    .option('systems', { type: 'string', default: d.systems, describe: `comma list of ${ALL_SYSTEMS.join(', ')}` })
    .option('memcslap', { type: 'boolean', default: d.memcslap, describe: 'also compare the load generator with memcslap (--no-memcslap: skip)' })
    .option('memcslap-per-thread', { type: 'number', default: 10000, describe: 'memcslap --execute-number' })
    .option('cluster', { type: 'string', describe: 'shm, tcp or shm,tcp: add a 3-node mucached cluster on that fabric (benchmarked through its leader)' })
    .option('via-follower', { type: 'boolean', default: false, describe: 'with --cluster: also a cluster benchmarked through a follower (every write forwarded to the leader)' })
    .option('busy-poll-us', { type: 'number', default: 0, describe: 'mucached systems: run every node with --busy-poll-us N (poll that long after input instead of sleeping; 0 = off, as users start it)' })
    .option('leader-timeout', { type: 'number', default: 45, describe: 'seconds a 3-node cluster may take to agree on a stable leader' })
    .option('report-dir', { type: 'string', default: d.reportDir, describe: `also write ${command}.md, ${command}-<workload>.svg and ${command}.json here` })
    .option('threads', { type: 'number', default: 1, describe: 'load-generator worker threads' })
    .option('json', { type: 'boolean', default: false })
    .option('seed', { type: 'number' })
    .strict()
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new Error(msg); })
    .help()
    .version(false)
    .parseSync();
  const list = <T extends string>(text: string, allowed: readonly T[], what: string): T[] => {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const i of items) if (!allowed.includes(i as T)) throw new Error(`unknown ${what} '${i}' (choose from ${allowed.join(', ')})`);
    if (items.length === 0) throw new Error(`no ${what} given`);
    return [...new Set(items)] as T[];
  };
  const systems = list(a.systems, ALL_SYSTEMS, 'system');
  if (a.cluster !== undefined) {
    for (const f of list<ClusterFabric>(a.cluster, CLUSTER_FABRICS, 'cluster fabric')) {
      for (const s of a['via-follower'] ? [clusterSystem(f), clusterSystem(f, true)] : [clusterSystem(f)]) if (!systems.includes(s)) systems.push(s);
    }
  } else if (a['via-follower']) {
    // Without --cluster: a follower-routed cluster beside each leader-routed one already chosen.
    const twins = systems.flatMap((s) => {
      const f = clusterFabricOf(s);
      return f !== null && !isViaFollower(s) ? [clusterSystem(f, true)] : [];
    });
    if (twins.length === 0) throw new Error('--via-follower needs --cluster (or a mucached-3-* system)');
    for (const s of twins) if (!systems.includes(s)) systems.push(s);
  }
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
    systems,
    memcslap: a.memcslap,
    memcslapPerThread: Math.floor(positive('memcslap-per-thread', a['memcslap-per-thread'])),
    json: a.json,
    seed: a.seed ?? randomSeed(),
    threads: Math.floor(positive('threads', a.threads)),
    reportDir: a['report-dir'] ?? null,
    leaderTimeoutSec: positive('leader-timeout', a['leader-timeout']),
    busyPollUs: checkedBusyPollUs(a['busy-poll-us']),
    command,
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

/** Exit status: 0 clean, 1 could not run, 2 ran but a system did not start or a run had errors. */
export async function benchMain(argv: string[], command: BenchCommand = 'bench'): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(argv, command);
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n`);
    return 1;
  }
  if (argv.includes('--help')) return 0;
  const log = (line: string): void => { if (!o.json) process.stderr.write(line + '\n'); };
  const servers = new Map<SystemName, StartedServer>();
  const stopAll = async (): Promise<void> => { await Promise.all([...servers.values()].map((s) => s.stop())); };
  // Also whatever is still starting (a cluster waiting for its leader) when the signal comes.
  const onSignal = (): void => { void stopAll().then(() => stopRegisteredChildren()).then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const slap = o.memcslap ? memcslapBinary() : null;
    if (o.memcslap && slap === null) log('memcslap not found (libmemcached-tools): skipping the load-generator check');
    const needed = new Set<SystemName>(o.systems);
    if (slap !== null) needed.add('memcached');
    const notStarted: Array<{ system: SystemName; reason: string }> = [];
    for (const s of needed) {
      try {
        const started = await startServer(s, { leaderTimeoutMs: o.leaderTimeoutSec * 1000, mucachedArgs: o.busyPollUs > 0 ? ['--busy-poll-us', String(o.busyPollUs)] : [] });
        servers.set(s, started);
        const leader = started.replication === undefined ? '' : ` (leader: node ${started.replication.leaderId})`;
        log(`started ${s} pid ${started.pids.join(',')} on 127.0.0.1:${started.port}${leader}`);
      } catch (err) {
        // The baseline is what every ratio divides by: without it there is nothing to report.
        if (s === 'memcached') throw err;
        const reason = (err as Error).message;
        notStarted.push({ system: s, reason: reason.split('\n')[0] });
        log(`${s} did not start: ${reason}`);
      }
    }
    const slapSamples: MemcslapSample[] = [{ test: 'set', memcslapPerSec: [], loadgenPerSec: [] }, { test: 'get', memcslapPerSec: [], loadgenPerSec: [] }];
    const afterRep = slap === null ? undefined : async (rep: number): Promise<void> => {
      const mc = servers.get('memcached') as StartedServer;
      for (const sample of slapSamples) {
        const ref = await runMemcslap(slap, mc.port, sample.test, o.connections, o.memcslapPerThread);
        const mode: ClientMode = sample.test === 'set' ? 'puts-only' : 'gets-only';
        const ours = await runLoadParallel({ ...loadOptions(o, mode, mc.port, o.seed + rep), pipeline: 1, durationSec: undefined, requests: ref.operations, warmupSec: 0 }, o.threads);
        sample.memcslapPerSec.push(ref.throughputPerSec);
        sample.loadgenPerSec.push(ours.throughputPerSec);
        log(`rep ${rep + 1}/${o.reps} ${sample.test} x ${ref.operations}, ${o.connections} connections: memcslap ${Math.round(ref.throughputPerSec)} req/s, loadgen ${Math.round(ours.throughputPerSec)} req/s`);
      }
    };
    const campaign = await runCampaign({
      reps: o.reps, workloads: o.workloads, systems: o.systems, threads: o.threads, seed: o.seed,
      runOptions: (mode, port, seed) => loadOptions(o, mode, port, seed),
    }, servers, log, afterRep);

    const rows = medianRows(campaign.samples);
    const replication = replicationRows(campaign, rows, (system) => servers.get(system as SystemName)?.replication?.leaderId ?? 0);
    const cpu = cpuRows(campaign.samples);
    const slapRows: MemcslapRow[] = slap === null ? [] : slapSamples.map((s) => {
      const m = median(s.memcslapPerSec);
      const g = median(s.loadgenPerSec);
      return { test: s.test, connections: o.connections, memcslapPerSec: m, loadgenPerSec: g, ratio: g / m };
    });
    const notes = [
      ...notStarted.map((n) => `${n.system} did not start: ${n.reason}`),
      ...campaign.notes,
      ...(o.systems.some((s) => s.startsWith('mucached-3-') && !isViaFollower(s)) ? ['3-node clusters are benchmarked through the leader\'s client port (replicated sets; reads served by the leader).'] : []),
      ...(o.systems.some((s) => isViaFollower(s)) ? ['-follower rows: a 3-node cluster benchmarked through a follower\'s client port (every write forwarded to the leader; reads served by the follower).'] : []),
    ];
    const title = `${o.protocol} protocol, key ${o.keySizeBytes} B, value ${o.valueSizeBytes} B, ${o.connections} connections x ${o.pipeline} in flight, ` +
      `${o.durationSec} s per run, median of ${o.reps}, seed ${o.seed}${o.threads > 1 ? `, ${o.threads} client threads` : ''}` +
      `${o.busyPollUs > 0 ? `, mucached --busy-poll-us ${o.busyPollUs}` : ''}`;
    const errors = rows.reduce((a, r) => a + r.errors, 0);
    const started = [...servers.values()].map((s) => ({ system: s.system, port: s.port, pids: s.pids, leaderId: s.replication?.leaderId, nodeId: s.nodeId }));
    const json = { command, options: o, started, targets: { singleNode: BENCH_TARGETS, replicatedSet: REPLICATED_SET_TARGETS }, rows, samples: campaign.samples, runs: campaign.runs, replication, cpu, memcslap: slapRows, notes };
    const files = o.reportDir === null ? [] : writeBenchReport(o.reportDir, {
      name: command, title, rows, memcslap: slapRows, histograms: campaign.histograms, replicationHistograms: campaign.replication, replication, cpu, notes, json,
    });
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...json, files }) + '\n');
    } else {
      process.stdout.write(`\n${title}\n${medianTable(rows)}\n${targetLegend(rows).join('\n')}\n`);
      if (replication.length > 0) {
        process.stdout.write(`\nleader-side replication latency (dump-<id>.txt, writes of the runs incl. preload and warmup)\n`);
        process.stdout.write(formatTable(['workload', 'system', 'leader', 'writes', 'p50 us', 'p99 us', 'max us', 'e2e p50 us', 'repl/e2e p50'],
          replication.map((r) => [r.workload, r.system, String(r.leaderId), String(r.summary.count), (r.summary.p50Ns / 1000).toFixed(1), (r.summary.p99Ns / 1000).toFixed(1),
            (r.summary.maxNs / 1000).toFixed(1), (r.endToEndP50Ns / 1000).toFixed(1), `${(100 * r.shareOfEndToEndP50).toFixed(0)}%`])) + '\n');
      }
      if (cpu.length > 0) {
        process.stdout.write(`\n${CPU_TABLE_TITLE}\n${formatTable(CPU_TABLE_HEADER, cpuCells(cpu))}\n`);
      }
      if (slapRows.length > 0) {
        process.stdout.write(`\nload generator vs memcslap against memcached -t 1 (same connections, one request in flight each; should be >= 0.90x)\n`);
        process.stdout.write(formatTable(['test', 'connections', 'memcslap req/s', 'loadgen req/s', 'ratio'],
          slapRows.map((r) => [r.test, String(r.connections), String(Math.round(r.memcslapPerSec)), String(Math.round(r.loadgenPerSec)), `${r.ratio.toFixed(2)}x`])) + '\n');
      }
      for (const n of notes) process.stdout.write(`note: ${n}\n`);
      if (files.length > 0) process.stdout.write(`\nwrote ${files.join(', ')}\n`);
    }
    return notStarted.length > 0 || errors > 0 ? 2 : 0;
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n`);
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
