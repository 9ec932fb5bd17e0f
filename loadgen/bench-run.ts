/**
 * The repetitions of a bench or compare: every workload against every started system, the order of
 * systems alternating between repetitions so drift on a shared machine hits all alike. For a
 * cluster, the leader's replication latencies of the writes made during each run (preload and
 * warmup included) are taken from SIGUSR1's dump between runs, never during one.
 */
import * as hdr from 'hdr-histogram-js';
import type { SampleSet } from './bench-table';
import { ErrorCounts, formatErrors, totalErrors } from './errors';
import { runLoadParallel } from './parallel';
import { cpuPerRequest, cpuSnapshot, cpuText } from './process-cpu';
import { replicationHistogram, recordSamples } from './replication-dump';
import { latencySummary } from './report';
import type { RunOptions } from './runner';
import type { StartedServer, SystemName } from './servers';
import type { ClientMode } from './workload';

export interface CampaignPlan {
  reps: number;
  workloads: ClientMode[];
  /** In the order given (reversed on odd repetitions). */
  systems: SystemName[];
  threads: number;
  seed: number;
  /** The run options for a workload against a port with a seed. */
  runOptions(mode: ClientMode, port: number, seed: number): RunOptions;
}

export interface Campaign {
  samples: SampleSet[];
  /** Per workload, per system: every repetition's end-to-end latencies merged. */
  histograms: Map<string, Map<string, hdr.Histogram>>;
  /** Per workload, per cluster system: the leader's replication latencies of those runs. */
  replication: Map<string, Map<string, hdr.Histogram>>;
  /** Things a reader of the numbers must know (a leader change, a short dump). */
  notes: string[];
  /** Every run's counts, in the order run (for the JSON, and for checking a run's own numbers). */
  runs: RunRecord[];
}

export interface RunRecord {
  rep: number;
  workload: string;
  system: string;
  requests: number;
  replies: number;
  stored: number;
  errors: number;
  /** The errors by kind (timeout, server_error, connection, ...), measured and preload together. */
  errorKinds: ErrorCounts;
  /** Cluster: how much the leader's mu_replicated_writes grew over the run (preload, warmup included). */
  replicatedWrites?: number;
  /** Cluster: how many of those the dump still held. */
  replicationSamples?: number;
  /** CPU per request served (process-cpu.ts), µs: the process the clients talk to, and the system's others. */
  cpuServedUsPerRequest: number;
  cpuOthersUsPerRequest: number;
}

type Log = (line: string) => void;

/** After SIGCONT, before the run: overdue timers fire and a cluster's scans see each other again. */
const RESUME_SETTLE_MS = 200;

/**
 * Runs every system, workload and repetition. Systems not being measured are paused (SIGSTOP):
 * an idle cluster still runs its heartbeats, scans and pump timers, and with several clusters on a
 * small machine those took CPU from the system measured. Each system is resumed (SIGCONT) for its
 * run and the probes after it; every system is resumed before afterRep and at the end.
 */
export async function runCampaign(plan: CampaignPlan, servers: Map<SystemName, StartedServer>, log: Log, afterRep?: (rep: number) => Promise<void>): Promise<Campaign> {
  const systems = plan.systems.filter((s) => servers.has(s));
  const pausing = systems.length > 1;
  if (pausing) signalAll(systems, servers, 'pause');
  try {
    return await measure(plan, systems, servers, log, pausing, afterRep);
  } finally {
    signalAll(systems, servers, 'resume');
  }
}

function signalAll(systems: SystemName[], servers: Map<SystemName, StartedServer>, what: 'pause' | 'resume'): void {
  for (const s of systems) (servers.get(s) as StartedServer)[what]();
}

async function measure(
  plan: CampaignPlan, systems: SystemName[], servers: Map<SystemName, StartedServer>, log: Log, pausing: boolean, afterRep?: (rep: number) => Promise<void>,
): Promise<Campaign> {
  const samples = new Map<string, SampleSet>();
  const histograms = new Map<string, Map<string, hdr.Histogram>>();
  const replication = new Map<string, Map<string, hdr.Histogram>>();
  for (const w of plan.workloads) {
    histograms.set(w, new Map(systems.map((s) => [s, hdr.build({ numberOfSignificantValueDigits: 3 })])));
    replication.set(w, new Map(systems.filter((s) => servers.get(s)?.replication !== undefined).map((s) => [s, replicationHistogram()])));
    for (const s of systems) samples.set(`${w}/${s}`, { workload: w, system: s, throughputPerSec: [], p50Ns: [], p99Ns: [], errors: [], cpuServedUs: [], cpuOthersUs: [] });
  }
  const notes: string[] = [];
  const runs: RunRecord[] = [];

  for (let rep = 0; rep < plan.reps; rep++) {
    for (const workload of plan.workloads) {
      const order = rep % 2 === 0 ? systems : [...systems].reverse();
      for (const system of order) {
        const server = servers.get(system) as StartedServer;
        if (pausing) {
          server.resume();
          await new Promise((r) => setTimeout(r, RESUME_SETTLE_MS));
        }
        const probe = server.replication;
        const writesBefore = probe === undefined ? 0 : await probe.writesSoFar();
        const others = server.pids.filter((p) => p !== server.pid);
        const cpuBefore = await cpuSnapshot(server.port, server.pid, others);
        const r = await runLoadParallel(plan.runOptions(workload, server.port, plan.seed + rep), plan.threads);
        const cpu = cpuPerRequest(cpuBefore, await cpuSnapshot(server.port, server.pid, others));
        const l = latencySummary(r);
        const s = samples.get(`${workload}/${system}`) as SampleSet;
        s.throughputPerSec.push(r.throughputPerSec);
        s.p50Ns.push(l.p50);
        s.p99Ns.push(l.p99);
        s.errors.push(r.errorTotal + totalErrors(r.preloadErrors));
        s.cpuServedUs!.push(cpu.servedUs);
        s.cpuOthersUs!.push(cpu.othersUs);
        histograms.get(workload)?.get(system)?.add(r.recorder.histogram);
        const record: RunRecord = {
          rep: rep + 1, workload, system, requests: r.requests, replies: r.replies, stored: r.stored, errors: r.errorTotal + totalErrors(r.preloadErrors),
          errorKinds: sumErrors(r.errors, r.preloadErrors), cpuServedUsPerRequest: cpu.servedUs, cpuOthersUsPerRequest: cpu.othersUs,
        };
        runs.push(record);
        let replicationText = '';
        if (probe !== undefined) {
          replicationText = await collectReplication(probe, writesBefore, replication.get(workload)?.get(system), record, notes);
        }
        log(`rep ${rep + 1}/${plan.reps} ${workload.padEnd(9)} ${system.padEnd(14)} ${Math.round(r.throughputPerSec)} req/s  p50 ${(l.p50 / 1000).toFixed(1)} us  p99 ${(l.p99 / 1000).toFixed(1)} us  errors ${formatErrors(record.errorKinds)}  cpu ${cpuText(cpu)}${replicationText}`);
        if (pausing) server.pause();
      }
    }
    if (afterRep !== undefined) {
      signalAll(systems, servers, 'resume');
      await afterRep(rep);
      if (pausing) signalAll(systems, servers, 'pause');
    }
  }
  return { samples: [...samples.values()], histograms, replication, notes, runs };
}

async function collectReplication(
  probe: NonNullable<StartedServer['replication']>, writesBefore: number, into: hdr.Histogram | undefined, record: RunRecord, notes: string[],
): Promise<string> {
  const what = `rep ${record.rep} ${record.workload} ${record.system}`;
  const leaderNow = await probe.leaderNow();
  if (leaderNow !== probe.leaderId) notes.push(`${what}: the leader changed from node ${probe.leaderId} to ${leaderNow || 'none'} (writes were forwarded)`);
  const written = (await probe.writesSoFar()) - writesBefore;
  const got = await probe.lastReplicationSamples(written);
  record.replicatedWrites = written;
  record.replicationSamples = got.length;
  if (got.length < written) notes.push(`${what}: the leader's dump held ${got.length} of the run's ${written} replicated writes`);
  if (into !== undefined) recordSamples(into, got);
  if (got.length === 0) return '  replication: no writes';
  const h = replicationHistogram();
  recordSamples(h, got);
  return `  replication p50 ${(h.getValueAtPercentile(50) / 1000).toFixed(1)} us (${got.length} writes)`;
}

function sumErrors(a: ErrorCounts, b: ErrorCounts): ErrorCounts {
  const out: ErrorCounts = { ...a };
  for (const [k, v] of Object.entries(b) as Array<[keyof ErrorCounts, number]>) out[k] = (out[k] ?? 0) + v;
  return out;
}
