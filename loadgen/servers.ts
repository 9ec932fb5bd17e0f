/**
 * The servers a benchmark starts for itself: stock memcached (one worker thread, as the baseline),
 * single-node mucached from dist/ and 3-node mucached clusters (shm or tcp fabric, benchmarked
 * through the leader's client port), each on free loopback ports, each process stopped by its PID.
 * Every wait is bounded.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClusterFabric, CLUSTER_FABRICS } from './cluster-config';
import { registerChild } from './children';
import { startCluster } from './cluster';
import { lastSamples } from './replication-dump';
import { freePort, waitForListening } from './ports';
import { heapOptions, memoryLimitMbOf } from '../daemon/heap-size';
export { freePort } from './ports';

/**
 * A 3-node cluster is benchmarked through its leader's client port, or with `-follower` through a
 * follower's, which forwards every write to the leader (what a client spreading keys over all
 * nodes does for two writes in three).
 */
export type SystemName = 'memcached' | 'mucached' | 'mucached-3-shm' | 'mucached-3-tcp' | 'mucached-3-shm-follower' | 'mucached-3-tcp-follower';
/** What `npm run bench` compares by default. */
export const SYSTEMS: readonly SystemName[] = ['memcached', 'mucached'];
export const ALL_SYSTEMS: readonly SystemName[] = ['memcached', 'mucached', 'mucached-3-shm', 'mucached-3-tcp', 'mucached-3-shm-follower', 'mucached-3-tcp-follower'];

export const clusterSystem = (fabric: ClusterFabric, viaFollower = false): SystemName => `mucached-3-${fabric}${viaFollower ? '-follower' : ''}`;
export function clusterFabricOf(system: SystemName): ClusterFabric | null {
  return CLUSTER_FABRICS.find((f) => clusterSystem(f) === system || clusterSystem(f, true) === system) ?? null;
}
export const isViaFollower = (system: string): boolean => system.startsWith('mucached-3-') && system.endsWith('-follower');

export const repoRoot = path.resolve(__dirname, '..', '..');
export const mucachedCli = path.join(repoRoot, 'dist', 'daemon', 'cli.js');

/** A cluster's leader, as the bench sees it between runs. */
export interface ReplicationProbe {
  leaderId: number;
  /** The leader's `mu_replicated_writes` now (never trimmed, unlike the dump). */
  writesSoFar(): Promise<number>;
  /** Who the group's leader is now, by the benchmarked node's `stats mu`. */
  leaderNow(): Promise<number>;
  /** SIGUSR1 to the leader; the last `count` lines of its dump-<id>.txt (ns). */
  lastReplicationSamples(count: number): Promise<number[]>;
}

export interface StartedServer {
  system: SystemName;
  /** The client port benchmarked: a cluster's leader (or a follower, see SystemName). */
  port: number;
  /** The process benchmarked (that node of a cluster); every process is stopped by stop(). */
  pid: number;
  /** Every process started for this system (a cluster: one per node). */
  pids: number[];
  output(): string;
  /** Stops every process (resuming a paused one first, or it would not act on SIGTERM). */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT to every process: a system not being measured takes no CPU (bench-run.ts). */
  pause(): void;
  resume(): void;
  replication?: ReplicationProbe;
  /** A cluster: the id of the node benchmarked. */
  nodeId?: number;
}



/** Sends `signal` to each pid still there (a process that exited meanwhile is no error). */
function signalEach(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    if (pid <= 0) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

export function memcachedBinary(): string {
  const r = spawnSync('sh', ['-c', 'command -v memcached || ls /usr/bin/memcached'], { encoding: 'utf8' });
  const p = (r.stdout ?? '').trim().split('\n')[0];
  if (!p) throw new Error('memcached not found (Debian: apt-get install memcached)');
  return p;
}

/** memcached refuses to run as root unless told which user to be. */
function memcachedUserArgs(): string[] {
  return typeof process.getuid === 'function' && process.getuid() === 0 ? ['-u', os.userInfo().username] : [];
}

function commandFor(system: 'memcached' | 'mucached', port: number, memcachedThreads: number, mucachedArgs: string[]): [string, string[]] {
  if (system === 'memcached') {
    return [memcachedBinary(), ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', String(memcachedThreads), ...memcachedUserArgs()]];
  }
  if (!fs.existsSync(mucachedCli)) throw new Error(`${mucachedCli} not found: run \`npm run build\` first (or choose --systems memcached)`);
  const daemonArgs = ['-p', String(port), '-l', '127.0.0.1', ...mucachedArgs];
  return [process.execPath, [...heapOptions(memoryLimitMbOf(daemonArgs)), mucachedCli, ...daemonArgs]];
}

async function startClusterServer(system: SystemName, fabric: ClusterFabric, o: StartOptions): Promise<StartedServer> {
  if (!fs.existsSync(mucachedCli)) throw new Error(`${mucachedCli} not found: run \`npm run build\` first`);
  const c = await startCluster({ cli: mucachedCli, fabric, startTimeoutMs: o.startTimeoutMs, leaderTimeoutMs: o.leaderTimeoutMs, extraArgs: o.mucachedArgs }, freePort);
  const target = isViaFollower(system) ? c.nodes.find((n) => n.id !== c.leaderId)! : c.leader();
  const pids = c.nodes.map((n) => n.proc.pid ?? -1);
  return {
    system,
    port: target.clientPort,
    pid: target.proc.pid ?? -1,
    nodeId: target.id,
    pids,
    output: () => c.nodes.map((n) => `--- node ${n.id}\n${n.output()}`).join('\n'),
    stop: () => {
      signalEach(pids, 'SIGCONT');
      return c.stop();
    },
    pause: () => signalEach(pids, 'SIGSTOP'),
    resume: () => signalEach(pids, 'SIGCONT'),
    replication: {
      leaderId: c.leaderId,
      writesSoFar: async () => (await c.muView(c.leaderId)).replicatedWrites,
      leaderNow: async () => (await c.muView(c.leaderId)).leaderId,
      lastReplicationSamples: async (count) => lastSamples(await c.dumpLeader(), count),
    },
  };
}

export interface StartOptions {
  memcachedThreads?: number;
  /** Until the client port (each node's, for a cluster) accepts connections. */
  startTimeoutMs?: number;
  /** A cluster: until its nodes agree on a stable leader. */
  leaderTimeoutMs?: number;
  /** Extra options for every mucached process (single node or cluster node). */
  mucachedArgs?: string[];
}

export async function startServer(system: SystemName, o: StartOptions = {}): Promise<StartedServer> {
  const memcachedThreads = o.memcachedThreads ?? 1;
  const startTimeoutMs = o.startTimeoutMs ?? 15_000;
  const fabric = clusterFabricOf(system);
  if (fabric !== null) return startClusterServer(system, fabric, { startTimeoutMs, leaderTimeoutMs: o.leaderTimeoutMs, mucachedArgs: o.mucachedArgs });
  const port = await freePort();
  const [cmd, args] = commandFor(system as 'memcached' | 'mucached', port, memcachedThreads, o.mucachedArgs ?? []);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  registerChild(proc);
  let out = '';
  const keepTailBytes = 64 * 1024;
  const append = (d: Buffer): void => { out = (out + d.toString()).slice(-keepTailBytes); };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const started: StartedServer = {
    system,
    port,
    pid: proc.pid ?? -1,
    pids: [proc.pid ?? -1],
    output: () => out,
    pause: () => signalEach([proc.pid ?? -1], 'SIGSTOP'),
    resume: () => signalEach([proc.pid ?? -1], 'SIGCONT'),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      process.kill(proc.pid, 'SIGCONT');
      process.kill(proc.pid, 'SIGTERM');
      const killTimer = setTimeout(() => { if (proc.exitCode === null && proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL'); }, 5000);
      await exited;
      clearTimeout(killTimer);
    },
  };
  try {
    await waitForListening(port, proc, startTimeoutMs);
  } catch (err) {
    await started.stop();
    throw new Error(`${system} (${cmd} ${args.join(' ')}): ${(err as Error).message}\n${out}`);
  }
  return started;
}
