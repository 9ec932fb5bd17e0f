/**
 * A 3-node mucached cluster for the bench: a config with free loopback ports, a unique name and a
 * random secret in a temporary directory that is also every node's working directory (so SIGUSR1's
 * dump-<id>.txt lands there), one daemon per node, a wait for an agreed leader, and a stop of every
 * process by its PID. Every wait is bounded in time and attempts.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { heapOptions, memoryLimitMbOf } from '../daemon/heap-size';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { registerChild, registerTempDir, removeTempDir } from './children';
import { ClusterFabric, MuView, agreedLeader, clusterConfigJson, muView, parseStats } from './cluster-config';
import { dumpFileName, parseDump } from './replication-dump';
import { distinctFreePorts, waitForListening } from './ports';

export interface ClusterNode {
  id: number;
  clientPort: number;
  proc: ChildProcess;
  exited: Promise<void>;
  /** The last 64 KiB of stdout and stderr. */
  output(): string;
  /** How many "wrote dump-<id>.txt" lines the node has logged. */
  dumpsWritten(): number;
}

export interface RunningCluster {
  fabric: ClusterFabric;
  dir: string;
  nodes: ClusterNode[];
  leaderId: number;
  leader(): ClusterNode;
  muView(id: number): Promise<MuView>;
  /** SIGUSR1 to the leader, wait for its log line, read and parse dump-<leader>.txt. */
  dumpLeader(timeoutMs?: number): Promise<number[]>;
  stop(): Promise<void>;
}

const KEEP_OUTPUT_BYTES = 64 * 1024;
const STOP_GRACE_MS = 5000;

function isRunning(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** One command over a fresh connection, read until the reply ends with END or an error line. */
export function statsExchange(port: number, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply to '${command}' from :${port} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (/(^|\r\n)(END|ERROR|CLIENT_ERROR [^\r]*|SERVER_ERROR [^\r]*)\r\n$/.test(reply)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}


function spawnNode(cli: string, id: number, clientPort: number, configFile: string, dir: string, extraArgs: string[]): ClusterNode {
  // As users start it (README, configs/systemd): V8's heap sized for the item memory.
  const proc = spawn(process.execPath, [...heapOptions(memoryLimitMbOf(extraArgs)), cli, '--id', String(id), '--config', configFile, '--state-dir', path.join(dir, 'state'), ...extraArgs], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  registerChild(proc);
  let out = '';
  let partial = '';
  let dumps = 0;
  const marker = `wrote ${dumpFileName(id)}`;
  const onData = (d: Buffer): void => {
    const text = d.toString();
    out = (out + text).slice(-KEEP_OUTPUT_BYTES);
    // Count whole lines only: a chunk may end mid-line.
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.includes(marker)) dumps++;
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { id, clientPort, proc, exited, output: () => out, dumpsWritten: () => dumps };
}

async function stopNode(n: ClusterNode): Promise<void> {
  if (!isRunning(n.proc) || n.proc.pid === undefined) return;
  const pid = n.proc.pid;
  process.kill(pid, 'SIGTERM');
  const timer = setTimeout(() => { if (isRunning(n.proc)) process.kill(pid, 'SIGKILL'); }, STOP_GRACE_MS);
  await n.exited;
  clearTimeout(timer);
}

export interface ClusterStartOptions {
  cli: string;
  fabric: ClusterFabric;
  size?: number;
  extraArgs?: string[];
  startTimeoutMs?: number;
  leaderTimeoutMs?: number;
  /** How long the same leader must be agreed before the cluster counts as started. */
  leaderStableMs?: number;
  /** tcp: the config's fabric.herald (absent: the daemon's default, on). */
  herald?: boolean;
}

export async function startCluster(o: ClusterStartOptions, freePort: () => Promise<number>): Promise<RunningCluster> {
  const size = o.size ?? 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mucached-bench-${o.fabric}-`));
  registerTempDir(dir);
  const free = await distinctFreePorts(3 * size, freePort);
  const ports = [];
  for (let id = 1; id <= size; id++) {
    const [clientPort, fabricPort, peerPort] = free.slice(3 * (id - 1), 3 * id);
    ports.push({ id, clientPort, fabricPort, peerPort });
  }
  const configFile = path.join(dir, 'cluster.json');
  const name = `bench-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(configFile, clusterConfigJson(name, o.fabric, crypto.randomBytes(16).toString('hex'), ports, o.herald));
  const nodes: ClusterNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(stopNode));
    removeTempDir(dir);
  };
  const viewOf = async (id: number): Promise<MuView> => muView(parseStats(await statsExchange(nodes[id - 1].clientPort, 'stats mu')));
  try {
    for (const p of ports) nodes.push(spawnNode(o.cli, p.id, p.clientPort, configFile, dir, o.extraArgs ?? []));
    for (const n of nodes) await waitForListening(n.clientPort, n.proc, o.startTimeoutMs ?? 15_000);
    const leaderId = await waitForAgreedLeader(nodes, viewOf, o.leaderTimeoutMs ?? 20_000, o.leaderStableMs ?? 500);
    const cluster: RunningCluster = {
      fabric: o.fabric,
      dir,
      nodes,
      leaderId,
      leader: () => nodes[cluster.leaderId - 1],
      muView: viewOf,
      dumpLeader: (timeoutMs = 10_000) => dumpNode(cluster.leader(), dir, timeoutMs),
      stop,
    };
    return cluster;
  } catch (err) {
    const tails = nodes.map((n) => `--- node ${n.id}\n${n.output().slice(-1500)}`).join('\n');
    await stop();
    throw new Error(`3-node ${o.fabric} cluster: ${(err as Error).message}\n${tails}`);
  }
}

/**
 * Waits until the group has agreed on one leader for stableMs in a row: a leader elected while the
 * nodes were still starting may be replaced a moment later, in the middle of the first run.
 */
async function waitForAgreedLeader(nodes: ClusterNode[], viewOf: (id: number) => Promise<MuView>, timeoutMs: number, stableMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let since = { leader: null as number | null, atMs: Date.now() };
  for (let attempt = 0; Date.now() < deadline && attempt < 5000; attempt++) {
    const views = await Promise.all(nodes.map(async (n) => ({ id: n.id, view: await viewOf(n.id).catch(() => null) })));
    const leader = agreedLeader(views);
    // A poll that could not decide (a slow reply on a busy machine) does not restart the clock;
    // another agreed leader does.
    if (leader !== null && leader !== since.leader) since = { leader, atMs: Date.now() };
    if (leader !== null && Date.now() - since.atMs >= stableMs) return leader;
    if (nodes.some((n) => !isRunning(n.proc))) throw new Error('a node exited while waiting for a leader');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no agreed leader for ${stableMs} ms in a row within ${timeoutMs} ms`);
}

async function dumpNode(n: ClusterNode, dir: string, timeoutMs: number): Promise<number[]> {
  if (!isRunning(n.proc) || n.proc.pid === undefined) throw new Error(`node ${n.id} is not running`);
  const before = n.dumpsWritten();
  process.kill(n.proc.pid, 'SIGUSR1');
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; n.dumpsWritten() === before; attempt++) {
    if (Date.now() > deadline || attempt > 10_000) throw new Error(`node ${n.id} did not log writing ${dumpFileName(n.id)} within ${timeoutMs} ms`);
    if (!isRunning(n.proc)) throw new Error(`node ${n.id} exited after SIGUSR1`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const file = path.join(dir, dumpFileName(n.id));
  return parseDump(fs.readFileSync(file, 'utf8'), file);
}
