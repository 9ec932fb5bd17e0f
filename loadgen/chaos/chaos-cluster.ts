/**
 * The chaos run's 3-node mucached cluster on the shm fabric: real processes with a config of free
 * loopback ports and a unique cluster name, each node restartable after a SIGKILL and pausable
 * with SIGSTOP, every process stopped by its PID at the end (a paused one is continued first).
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { registerChild, registerTempDir, removeTempDir } from '../children';
import { agreedLeader, clusterConfigJson, muView, parseStats } from '../cluster-config';
import { statsExchange } from '../cluster';

export interface ChaosNode {
  id: number;
  clientPort: number;
  proc: ChildProcess | null;
  paused: boolean;
  output: string;
}

const KEEP_OUTPUT_CHARS = 32 * 1024;
const running = (p: ChildProcess | null): p is ChildProcess => p !== null && p.exitCode === null && p.signalCode === null;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ChaosCluster {
  private constructor(readonly dir: string, readonly configFile: string, readonly nodes: ChaosNode[], private readonly cli: string, private readonly extraArgs: string[]) {}

  static async create(cli: string, size: number, freePort: () => Promise<number>, extraArgs: string[]): Promise<ChaosCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-chaos-'));
    registerTempDir(dir);
    const ports = [];
    for (let id = 1; id <= size; id++) ports.push({ id, clientPort: await freePort(), fabricPort: await freePort(), peerPort: await freePort() });
    const configFile = path.join(dir, 'cluster.json');
    const name = `chaos-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(configFile, clusterConfigJson(name, 'shm', crypto.randomBytes(16).toString('hex'), ports));
    const nodes = ports.map((p) => ({ id: p.id, clientPort: p.clientPort, proc: null, paused: false, output: '' }));
    return new ChaosCluster(dir, configFile, nodes, cli, extraArgs);
  }

  node(id: number): ChaosNode { return this.nodes[id - 1]; }

  isUp(id: number): boolean { const n = this.node(id); return running(n.proc) && !n.paused; }

  /** Spawns node `id` and waits until its client port answers `stats mu`. */
  async start(id: number, timeoutMs = 20_000): Promise<void> {
    const n = this.node(id);
    const proc = spawn(process.execPath, [this.cli, '--id', String(id), '--config', this.configFile, ...this.extraArgs], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    registerChild(proc);
    n.proc = proc;
    n.paused = false;
    const keep = (d: Buffer): void => { n.output = (n.output + d.toString()).slice(-KEEP_OUTPUT_CHARS); };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; attempt < 2000; attempt++) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`node ${id} exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${n.output.slice(-1500)}`);
      const ok = await statsExchange(n.clientPort, 'stats mu', 1000).then(() => true, () => false);
      if (ok) return;
      if (Date.now() > deadline) break;
      await sleep(25);
    }
    throw new Error(`node ${id} did not answer on :${n.clientPort} within ${timeoutMs} ms`);
  }

  async kill(id: number): Promise<void> {
    const p = this.node(id).proc;
    if (!running(p)) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid as number, 'SIGKILL');
    await exited;
  }

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
        view: this.isUp(id) ? await statsExchange(this.node(id).clientPort, 'stats mu', 1000).then((r) => muView(parseStats(r)), () => null) : null,
      })));
      const leader = agreedLeader(views);
      if (leader !== null) return leader;
      await sleep(20);
    }
    return null;
  }

  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      const p = n.proc;
      if (!running(p)) return;
      if (n.paused) this.resume(n.id);
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      process.kill(p.pid as number, 'SIGTERM');
      const timer = setTimeout(() => { if (running(p)) process.kill(p.pid as number, 'SIGKILL'); }, graceMs);
      await exited;
      clearTimeout(timer);
    }));
    removeTempDir(this.dir);
  }

  tails(): string {
    return this.nodes.map((n) => `--- node ${n.id}\n${n.output.slice(-2500)}`).join('\n');
  }
}
