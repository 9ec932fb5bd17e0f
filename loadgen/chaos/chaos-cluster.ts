/**
 * The chaos run's mucached cluster: N real processes on the shm fabric (loopback, free ports) or
 * on the tcp fabric with each node in its own network namespace (netns.ts), with a unique cluster
 * name and secret. Nodes can be killed and restarted, paused with SIGSTOP, stopped gracefully
 * (SIGTERM: the planned hand-off) and, on tcp, cut off from each other. Every process is stopped by
 * its PID at the end (a paused one is continued first), then the namespaces are removed; a process
 * 'exit' hook SIGKILLs any node still running if the harness dies first.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { registerChild, registerTempDir, removeTempDir } from '../children';
import { agreedLeader, muView, parseStats } from '../cluster-config';
import { distinctFreePorts } from '../ports';
import { NetnsTopology } from './netns';
import { exchangeOnce } from './text-client';

export type ChaosFabric = 'shm' | 'tcp';

export interface Endpoint { host: string; port: number }

export interface ChaosNode {
  id: number;
  client: Endpoint;
  proc: ChildProcess | null;
  paused: boolean;
  output: string;
}

/** Per node, across restarts: enough for the log excerpts a failure report needs. */
const KEEP_OUTPUT_CHARS = 1024 * 1024;
const running = (p: ChildProcess | null): p is ChildProcess => p !== null && p.exitCode === null && p.signalCode === null;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Inside a node's own namespace nothing else listens: the usual ports are free by construction.
const NS_CLIENT_PORT = 11211;
const NS_FABRIC_PORT = 11311;
const NS_PEER_PORT = 11411;

const everyNodeProc = new Set<ChildProcess>();
let exitHooked = false;
function trackForExit(p: ChildProcess): void {
  everyNodeProc.add(p);
  p.once('exit', () => everyNodeProc.delete(p));
  if (exitHooked) return;
  exitHooked = true;
  // Registered before any NetnsTopology hook of a later cluster? Order does not matter: killing
  // here is by PID and namespaces are deleted by name.
  process.on('exit', () => { for (const q of everyNodeProc) if (running(q)) { try { process.kill(q.pid as number, 'SIGCONT'); process.kill(q.pid as number, 'SIGKILL'); } catch { /* gone */ } } });
}

export class ChaosCluster {
  private constructor(
    readonly fabric: ChaosFabric,
    readonly dir: string,
    readonly configFile: string,
    readonly nodes: ChaosNode[],
    readonly netns: NetnsTopology | null,
    private readonly cli: string,
    private readonly extraArgs: string[],
    /** The clock node output lines are stamped with (the history's, in ms). */
    public clockMs: () => number = () => 0,
  ) {}

  static async create(cli: string, size: number, fabric: ChaosFabric, freePort: () => Promise<number>, extraArgs: string[]): Promise<ChaosCluster> {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const netns = fabric === 'tcp' ? NetnsTopology.create(ids) : null;
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-chaos-'));
      registerTempDir(dir);
      const entries = [];
      const loopbackPorts = netns === null ? await distinctFreePorts(3 * size, freePort) : [];
      for (const id of ids) {
        const [clientPort, fabricPort, peerPort] = loopbackPorts.slice(3 * (id - 1), 3 * id);
        entries.push(netns === null
          ? { id, host: '127.0.0.1', clientPort, fabricPort, peerPort }
          : { id, host: netns.plan.nodeAddress(id), clientPort: NS_CLIENT_PORT, fabricPort: NS_FABRIC_PORT, peerPort: NS_PEER_PORT });
      }
      const configFile = path.join(dir, 'cluster.json');
      const name = `chaos-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
      fs.writeFileSync(configFile, JSON.stringify({ cluster: name, fabric: { kind: fabric }, secret: crypto.randomBytes(16).toString('hex'), nodes: entries }, null, 2) + '\n');
      const nodes = entries.map((e) => ({ id: e.id, client: { host: e.host, port: e.clientPort }, proc: null, paused: false, output: '' }));
      return new ChaosCluster(fabric, dir, configFile, nodes, netns, cli, extraArgs);
    } catch (e) {
      netns?.destroy();
      throw e;
    }
  }

  get size(): number { return this.nodes.length; }

  node(id: number): ChaosNode { return this.nodes[id - 1]; }

  isUp(id: number): boolean { const n = this.node(id); return running(n.proc) && !n.paused; }

  pid(id: number): number | null { const p = this.node(id).proc; return running(p) ? p.pid as number : null; }

  stats(id: number, group: string, timeoutMs = 1000): Promise<Map<string, string>> {
    const c = this.node(id).client;
    return exchangeOnce(c.host, c.port, `stats ${group}\r\n`, true, timeoutMs).then(parseStats);
  }

  /** Spawns node `id` and waits until its client port answers `stats mu`. */
  async start(id: number, timeoutMs = 20_000): Promise<void> {
    const n = this.node(id);
    // A state directory, as a deployed node has: a restarted node knows it restarted (membership-mark.ts).
    const argv = [process.execPath, this.cli, '--id', String(id), '--config', this.configFile, '--state-dir', path.join(this.dir, 'state'), ...this.extraArgs];
    const full = this.netns === null ? argv : [...this.netns.execPrefix(id), ...argv];
    // `ip netns exec` execs its command: the PID is the daemon's own.
    // The nodes stop by themselves if this runner dies (daemon/cli.ts, watchParent).
    const env = { ...process.env, MUCACHED_EXIT_WITH_PARENT: '1' };
    const proc = spawn(full[0], full.slice(1), { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    registerChild(proc);
    trackForExit(proc);
    n.proc = proc;
    n.paused = false;
    n.output += `[t=${this.clockMs().toFixed(1)}] --- chaos: node ${id} started (pid ${proc.pid})\n`;
    // Each line is stamped with the history's clock so logs line up with the report's times.
    let atLineStart = true;
    const keep = (d: Buffer): void => {
      const stamp = `[t=${this.clockMs().toFixed(1)}] `;
      const text = d.toString();
      const stamped = (atLineStart ? stamp : '') + text.replace(/\n(?=.)/gs, `\n${stamp}`);
      atLineStart = text.endsWith('\n');
      n.output = (n.output + stamped).slice(-KEEP_OUTPUT_CHARS);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; attempt < 2000; attempt++) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`node ${id} exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${n.output.slice(-1500)}`);
      if (await this.stats(id, 'mu').then(() => true, () => false)) return;
      if (Date.now() > deadline) break;
      await sleep(25);
    }
    throw new Error(`node ${id} did not answer on ${n.client.host}:${n.client.port} within ${timeoutMs} ms`);
  }

  private async signalAndWait(id: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!running(p)) return;
    if (n.paused) this.resume(id);
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid as number, signal);
    const timer = setTimeout(() => { if (running(p)) process.kill(p.pid as number, 'SIGKILL'); }, graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(id: number): Promise<void> { return this.signalAndWait(id, 'SIGKILL', 5000); }

  /** SIGTERM: the daemon resigns leadership (if it leads) and exits; SIGKILL after graceMs. */
  terminate(id: number, graceMs = 5000): Promise<void> { return this.signalAndWait(id, 'SIGTERM', graceMs); }

  pause(id: number): void {
    const n = this.node(id);
    if (!running(n.proc)) return;
    process.kill(n.proc.pid as number, 'SIGSTOP');
    n.paused = true;
  }

  resume(id: number): void {
    const n = this.node(id);
    if (!running(n.proc) || !n.paused) return;
    process.kill(n.proc.pid as number, 'SIGCONT');
    n.paused = false;
  }

  /** The leader every live node names, once exactly one leads; null if none within timeoutMs. */
  async agreedLeader(timeoutMs: number, requireAll = true): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; attempt < 10_000 && Date.now() < deadline; attempt++) {
      const ids = this.nodes.filter((n) => requireAll || this.isUp(n.id)).map((n) => n.id);
      const views = await Promise.all(ids.map(async (id) => ({
        id,
        view: this.isUp(id) ? await this.stats(id, 'mu').then(muView, () => null) : null,
      })));
      const leader = agreedLeader(views);
      if (leader !== null) return leader;
      await sleep(20);
    }
    return null;
  }

  async stopAll(graceMs = 5000): Promise<void> {
    try {
      try { this.netns?.healAll(); } catch { /* the namespaces go below anyway */ }
      await Promise.all(this.nodes.map((n) => this.signalAndWait(n.id, 'SIGTERM', graceMs)));
    } finally {
      this.netns?.destroy();
      removeTempDir(this.dir);
    }
  }

  /** A line in every node's kept output (fault events), stamped like the nodes' own lines. */
  mark(text: string): void {
    for (const n of this.nodes) n.output = `${n.output}${n.output === '' || n.output.endsWith('\n') ? '' : '\n'}[t=${this.clockMs().toFixed(1)}] --- chaos: ${text}\n`.slice(-KEEP_OUTPUT_CHARS);
  }

  /** Writes every node's kept output to `dir`/node-<id>.log; returns the file names. */
  writeLogs(dir: string): string[] {
    fs.mkdirSync(dir, { recursive: true });
    return this.nodes.map((n) => {
      const file = path.join(dir, `node-${n.id}.log`);
      fs.writeFileSync(file, n.output);
      return file;
    });
  }

  tails(): string {
    return this.nodes.map((n) => `--- node ${n.id}\n${n.output.slice(-2500)}`).join('\n');
  }
}
