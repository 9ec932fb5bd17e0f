/**
 * A replicated mucached cluster of real processes for tests: a config file with free loopback
 * ports and a unique cluster name, one daemon per node, each stopped by its PID.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { daemonCli, freePort, waitForPort } from './procs';
import { distinctFreePorts } from '../../loadgen/ports';
import { removeShmClusterFiles } from '../../binding/shm-files';

export interface ClusterNodeProc {
  id: number;
  clientPort: number;
  proc: ChildProcess | null;
  output: string;
}

export interface TestCluster {
  dir: string;
  configFile: string;
  nodes: ClusterNodeProc[];
  start(id: number): Promise<void>;
  kill(id: number, signal?: NodeJS.Signals): Promise<void>;
  stopAll(): Promise<void>;
}

export async function makeCluster(size: number, fabric: 'shm' | 'tcp', extraArgs: string[] = []): Promise<TestCluster> {
  const ports = await distinctFreePorts(3 * size, freePort);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-test-cluster-'));
  const nodes = [];
  for (let id = 1; id <= size; id++) {
    const [clientPort, fabricPort, peerPort] = ports.slice(3 * (id - 1), 3 * id);
    nodes.push({ id, host: '127.0.0.1', clientPort, fabricPort, peerPort });
  }
  const configFile = path.join(dir, 'cluster.json');
  const clusterName = `t${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(configFile, JSON.stringify({
    cluster: clusterName,
    fabric: { kind: fabric },
    secret: crypto.randomBytes(16).toString('hex'),
    nodes,
  }));
  const procs: ClusterNodeProc[] = nodes.map((n) => ({ id: n.id, clientPort: n.clientPort, proc: null, output: '' }));
  const cluster: TestCluster = {
    dir,
    configFile,
    nodes: procs,
    async start(id) {
      const node = procs[id - 1];
      // As systemd's StateDirectory= gives each node: where it marks that it ran in the cluster before.
      const stateArgs = extraArgs.some((a) => a.startsWith('--state-dir')) ? [] : ['--state-dir', path.join(dir, 'state')];
      const child = spawn(process.execPath, [daemonCli, '--id', String(id), '--config', configFile, ...stateArgs, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      node.proc = child;
      child.stdout?.on('data', (d) => { node.output += d.toString(); });
      child.stderr?.on('data', (d) => { node.output += d.toString(); });
      try {
        await waitForPort(node.clientPort, 15_000, child);
      } catch (err) {
        throw new Error(`node ${id} did not start: ${(err as Error).message}\n${node.output.slice(-3000)}`);
      }
    },
    async kill(id, signal = 'SIGKILL') {
      const child = procs[id - 1].proc;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid!, signal);
      const timer = setTimeout(() => { if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL'); }, 5000);
      await exited;
      clearTimeout(timer);
    },
    async stopAll() {
      for (const n of procs) await cluster.kill(n.id, 'SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
      // Nodes killed with SIGKILL during a test leave their shm region files behind: remove this
      // cluster's (and only this cluster's) files.
      removeShmClusterFiles(clusterName);
    },
  };
  return cluster;
}

/** One request/response exchange over a fresh connection; resolves with everything read until `done`. */
export function exchange(port: number, request: string, done: (reply: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete reply from :${port} within ${timeoutMs} ms (got ${JSON.stringify(reply)})`)); }, timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (done(reply)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    // A node that closes the connection unanswered (it is stopping) fails the exchange at once,
    // not at the timeout: callers measure stalls, and a close is no stall.
    socket.on('close', () => { clearTimeout(timer); reject(new Error(`:${port} closed the connection before a complete reply (got ${JSON.stringify(reply)})`)); });
  });
}

/** A text-protocol set of `value` under `key`; resolves with the reply line. */
export function textSet(port: number, key: string, value: string, timeoutMs = 10_000): Promise<string> {
  return exchange(port, `set ${key} 0 0 ${value.length}\r\n${value}\r\n`, (r) => r.endsWith('\r\n'), timeoutMs);
}

/**
 * Sets `key` until the node answers STORED (a cluster that is electing refuses writes for a while),
 * at most `attempts` times 100 ms apart; resolves with the last reply.
 */
export async function setUntilStored(port: number, key: string, value: string, attempts = 50, timeoutMs = 10_000): Promise<string> {
  let reply = '';
  for (let attempt = 0; attempt < attempts && reply !== 'STORED\r\n'; attempt++) {
    reply = await textSet(port, key, value, timeoutMs);
    if (reply !== 'STORED\r\n') await new Promise((r) => setTimeout(r, 100));
  }
  return reply;
}

export async function muRole(port: number): Promise<{ role: string; leader: number }> {
  const text = await exchange(port, 'stats mu\r\n', (r) => r.endsWith('END\r\n') || r.endsWith('ERROR\r\n'), 2000);
  const get = (name: string) => new RegExp(`STAT ${name} (\\S+)`).exec(text)?.[1] ?? '';
  return { role: get('mu_role'), leader: Number(get('mu_leader_id')) };
}

/**
 * Polls until exactly one live node says it leads, the others agree, and it is the lowest id alive;
 * bounded by timeoutMs. A group settles on its lowest id: a node that started late (or restarted)
 * follows whoever was elected, then is handed the lead once caught up. A test that picked its
 * followers before that hand-off would kill the new leader instead (with both "followers" killed,
 * the node left holds no term and cannot be elected: the group is rightly stuck).
 */
export async function waitForLeader(cluster: TestCluster, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    const live = cluster.nodes.filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);
    const roles = await Promise.all(live.map((n) => muRole(n.clientPort).catch(() => ({ role: 'down', leader: 0 }))));
    const leaders = live.filter((_, i) => roles[i].role === 'leader');
    const settled = leaders.length === 1 && leaders[0].id === Math.min(...live.map((n) => n.id));
    if (settled && roles.every((r) => r.leader === leaders[0].id)) return leaders[0].id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no agreed leader within ${timeoutMs} ms:\n${cluster.nodes.map((n) => `--- node ${n.id}\n${n.output.slice(-2000)}`).join('\n')}`);
}

/** Polls `get key` on `port` until it returns `value` (followers apply within a bounded delay). */
export async function waitForValue(port: number, key: string, value: string | null, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    last = await exchange(port, `get ${key}\r\n`, (r) => r.endsWith('END\r\n'), 2000);
    const expected = value === null ? 'END\r\n' : `VALUE ${key} 0 ${Buffer.byteLength(value)}\r\n${value}\r\nEND\r\n`;
    if (last === expected) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`:${port} never returned ${JSON.stringify(value)} for ${key}; last reply ${JSON.stringify(last)}`);
}

/**
 * The setup of a test file that freezes the leader: a 3-node shm cluster started before its tests
 * with `extraArgs`, every node thawed (SIGCONT) and stopped after them. Whole clusters of real
 * processes on a shared 2-core machine: a run starved of CPU long enough to miss an election is
 * retried; the failure of the first attempt is still printed.
 */
export function frozenLeaderSuite(extraArgs: string[]): { cluster: () => TestCluster; port: (id: number) => number; freezeLeader: () => Promise<FrozenLeader> } {
  jest.setTimeout(120_000);
  jest.retryTimes(2, { logErrorsBeforeRetry: true });
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', '32', ...extraArgs]);
    await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
  });
  afterAll(async () => {
    // Only nodes still running (a test may have killed some: a signalled process has no exit code).
    for (const n of cluster?.nodes ?? []) if (n.proc?.pid !== undefined && n.proc.exitCode === null && n.proc.signalCode === null) process.kill(n.proc.pid, 'SIGCONT');
    await cluster?.stopAll();
  });
  const port = (id: number) => cluster.nodes[id - 1].clientPort;
  const freezeLeader = async (): Promise<FrozenLeader> => {
    for (const n of cluster.nodes) if (!n.proc || n.proc.exitCode !== null || n.proc.signalCode !== null) await cluster.start(n.id);
    const leader = await waitForLeader(cluster);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const key = `frozen-${Date.now()}`;
    // A first forwarded write opens the follower's link to the leader, so the next one is sent.
    expect(await exchange(port(follower), `set warm-${key} 0 0 1\r\nw\r\n`, (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
    const leaderPid = cluster.nodes[leader - 1].proc!.pid!;
    process.kill(leaderPid, 'SIGSTOP');
    return { leader, follower, key, thaw: () => process.kill(leaderPid, 'SIGCONT') };
  };
  return { cluster: () => cluster, port, freezeLeader };
}

/** A leader frozen by frozenLeaderSuite: `key` is fresh for the test; `thaw` wakes the leader. */
export interface FrozenLeader {
  leader: number;
  follower: number;
  key: string;
  thaw: () => void;
}
