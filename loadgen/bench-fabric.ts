/**
 * npm run bench:fabric — latency of one 64-byte one-sided write until its completion is polled,
 * from JS, per fabric backend, with a raw Node TCP ping-pong between two processes in the same run
 * as the tcp baseline (issue 3); `--backends verbs --verbs-ip <ip>` on a host with an RDMA NIC.
 * The memory's owner (and the echo server) run in child processes
 * of this same script (`--role owner|echo`), stopped by PID at the end.
 *
 * Targets (judged by reading the output, never asserted): shm median <= 1 µs; tcp median <= 1.2x
 * the raw ping-pong median.
 */
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import * as readline from 'readline';
import * as hdr from 'hdr-histogram-js';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { openFabric, NativeFabric } from '../binding';
import type { FabricOptions } from '../binding/fabric';

type Backend = 'shm' | 'tcp' | 'verbs';
type WaitMode = 'spin' | 'wait';

interface Args {
  role: 'main' | 'owner' | 'echo';
  backends: string;
  modes: string;
  iterations: number;
  warmup: number;
  size: number;
  json: boolean;
  kind: Backend;
  cluster: string;
  secret: string;
  verbsIp: string;
  device: string;
  peerPort: number;
}

interface Result {
  name: string;
  iterations: number;
  p50us: number;
  p90us: number;
  p99us: number;
  p999us: number;
  maxus: number;
  meanus: number;
}

const REGION = 'bench';
const REGION_BYTES = 1 << 20;

function parseArgs(): Args {
  return yargs(hideBin(process.argv))
    .scriptName('bench-fabric')
    .usage('$0 [options]\n\nLatency of a one-sided write until its completion is polled, per fabric backend, with a raw Node TCP ping-pong baseline.')
    .option('backends', { type: 'string', default: 'shm,tcp', describe: 'comma-separated backends to measure (shm, tcp, verbs)' })
    .option('modes', { type: 'string', default: 'spin,wait', describe: 'tcp: how the writer waits for its completion (spin: pollCompletions in a loop; wait: waitCompletions)' })
    .option('iterations', { type: 'number', default: 200_000, describe: 'measured writes per backend (the tcp rows and the ping-pong use a fifth)' })
    .option('warmup', { type: 'number', default: 5_000, describe: 'unmeasured writes first' })
    .option('size', { type: 'number', default: 64, describe: 'bytes per write' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON document instead of a table' })
    .option('role', { choices: ['main', 'owner', 'echo'] as const, default: 'main' as const, hidden: true })
    .option('verbs-ip', { type: 'string', default: '', describe: 'verbs: IP address of the local RDMA interface (RoCE v2); both nodes of the benchmark use it' })
    .option('device', { type: 'string', default: '', describe: 'verbs: RDMA device name to insist on (e.g. mlx5_0)' })
    .option('kind', { choices: ['shm', 'tcp', 'verbs'] as const, default: 'shm' as const, hidden: true })
    .option('peer-port', { type: 'number', default: 0, hidden: true })
    .option('cluster', { type: 'string', default: '', hidden: true })
    .option('secret', { type: 'string', default: '', hidden: true })
    .check((a) => {
      if (!Number.isInteger(a.iterations) || a.iterations < 1) throw new Error('--iterations must be a positive integer');
      if (!Number.isInteger(a.size) || a.size < 1 || a.size > 65536) throw new Error('--size must be in 1..65536');
      for (const b of a.backends.split(',')) if (b !== 'shm' && b !== 'tcp' && b !== 'verbs') throw new Error(`unknown backend '${b}' (shm, tcp, verbs)`);
      if (a.backends.split(',').includes('verbs') && !a['verbs-ip']) throw new Error('--backends verbs needs --verbs-ip (the IP of the RDMA interface)');
      for (const m of a.modes.split(',')) if (m !== 'spin' && m !== 'wait') throw new Error(`unknown mode '${m}' (spin, wait)`);
      return true;
    })
    .strict()
    .help()
    .parseSync() as Args;
}

function fabricOptions(kind: Backend, selfId: number, args: Pick<Args, 'cluster' | 'secret' | 'verbsIp' | 'device'>): FabricOptions {
  const { cluster, secret } = args;
  if (kind === 'tcp') return { kind, selfId, cluster, secret, listenHost: '127.0.0.1', listenPort: 0 };
  if (kind === 'verbs') return { kind, selfId, cluster, gid: args.verbsIp, listenPort: 0, ...(args.device ? { device: args.device } : {}) };
  return { kind, selfId, cluster };
}

/**
 * Child role: node 1, owns the region, grants node 2; prints its port and lives until stdin closes.
 * On verbs the lower id connects, so node 1 dials node 2 at --peer-port.
 */
function runOwner(args: Args): void {
  const owner = openFabric(fabricOptions(args.kind, 1, args));
  owner.registerRegion(REGION, REGION_BYTES);
  owner.grantWrite(REGION, 2);
  if (args.kind === 'verbs') owner.connectPeer({ peerId: 2, host: args.verbsIp, port: args.peerPort });
  process.stdout.write(JSON.stringify({ listenPort: owner.listenPort }) + '\n');
  process.stdin.on('end', () => { owner.close(); process.exit(0); });
  process.stdin.resume();
}

/** Child role: echoes every byte back, for the raw ping-pong baseline. */
function runEcho(): void {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ listenPort: (server.address() as net.AddressInfo).port }) + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

interface Child {
  proc: ChildProcess;
  listenPort: number;
}

function startChild(extra: string[]): Promise<Child> {
  const proc = spawn(process.execPath, [__filename, ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { process.kill(proc.pid!, 'SIGKILL'); reject(new Error('child did not start in 10 s')); }, 10_000);
    const lines = readline.createInterface({ input: proc.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve({ proc, listenPort: (JSON.parse(line) as { listenPort: number }).listenPort });
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}`)); });
  });
}

function stopChild(child: Child): Promise<void> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) return resolve();
    const timer = setTimeout(() => process.kill(child.proc.pid!, 'SIGKILL'), 5000);
    child.proc.once('exit', () => { clearTimeout(timer); resolve(); });
    child.proc.stdin!.end();
  });
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: 3 });
}

function summarize(name: string, h: hdr.Histogram): Result {
  const us = (ns: number) => Math.round(ns) / 1000;
  return {
    name,
    iterations: h.totalCount,
    p50us: us(h.getValueAtPercentile(50)),
    p90us: us(h.getValueAtPercentile(90)),
    p99us: us(h.getValueAtPercentile(99)),
    p999us: us(h.getValueAtPercentile(99.9)),
    maxus: us(h.maxValue),
    meanus: us(h.mean),
  };
}

/** Progress on stderr at most once a second, so long runs show they are alive. */
function progress(json: boolean): (label: string, done: number, total: number) => void {
  let last = Date.now();
  return (label, done, total) => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    if (!json || process.stderr.isTTY) process.stderr.write(`  ${label}: ${done}/${total}\n`);
  };
}

async function waitConnected(fabric: NativeFabric, peerId: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (fabric.peerState(peerId) === 'connected') return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`node ${peerId}: ${fabric.peerState(peerId)} after 10 s`);
}

/** One write, then poll until its completion: spinning on pollCompletions, or parked in waitCompletions. */
async function measureFabric(fabric: NativeFabric, name: string, mode: WaitMode, iterations: number, warmup: number, size: number, report: ReturnType<typeof progress>): Promise<Result> {
  const data = Buffer.alloc(size, 0x5a);
  const h = newHistogram();
  const slots = Math.floor(REGION_BYTES / size);
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = process.hrtime.bigint();
    const wrId = fabric.postWrite(1, REGION, (i % slots) * size, data);
    let done = false;
    for (let spins = 0; !done; spins++) {
      const got = fabric.pollCompletions(16);
      for (const c of got) {
        if (c.wrId !== wrId) continue;
        if (!c.ok) throw new Error(`${name}: write failed: ${c.error} ${c.detail ?? ''}`);
        done = true;
      }
      if (!done && (mode === 'wait' || spins > 10_000_000)) await fabric.waitCompletions(1000);
    }
    const t1 = process.hrtime.bigint();
    if (i >= warmup) h.recordValue(Number(t1 - t0));
    report(name, i + 1, warmup + iterations);
  }
  return summarize(name, h);
}

async function measurePingPong(port: number, iterations: number, warmup: number, size: number, report: ReturnType<typeof progress>): Promise<Result> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const h = newHistogram();
  const message = Buffer.alloc(size, 0x5a);
  await new Promise<void>((resolve, reject) => {
    let i = 0;
    let received = 0;
    let t0 = process.hrtime.bigint();
    const send = () => { t0 = process.hrtime.bigint(); socket.write(message); };
    socket.on('error', reject);
    socket.on('data', (d) => {
      received += d.length;
      if (received < size) return;
      received -= size;
      const t1 = process.hrtime.bigint();
      if (i >= warmup) h.recordValue(Number(t1 - t0));
      i++;
      report('tcp ping-pong', i, warmup + iterations);
      if (i < warmup + iterations) send();
      else resolve();
    });
    send();
  });
  socket.destroy();
  return summarize('raw Node TCP ping-pong (baseline)', h);
}

async function runMain(args: Args): Promise<void> {
  const backends = args.backends.split(',') as Backend[];
  const report = progress(args.json);
  const results: Result[] = [];
  const tcpIterations = Math.max(1, Math.floor(args.iterations / 5));
  const tcpWarmup = Math.max(1, Math.floor(args.warmup / 5));
  for (const kind of backends) {
    const cluster = `bench-${process.pid}-${kind}`;
    const secret = `bench-secret-${process.pid}`;
    const fabricArgs = { cluster, secret, verbsIp: args.verbsIp, device: args.device };
    // verbs: the writer (node 2) accepts, so it listens before the owner starts and dials it.
    const writer = openFabric(fabricOptions(kind, 2, fabricArgs));
    let owner: Child;
    try {
      owner = await startChild(['--role', 'owner', '--kind', kind, '--cluster', cluster, '--secret', secret,
        '--verbs-ip', args.verbsIp, '--device', args.device, '--peer-port', String(writer.listenPort)]);
    } catch (e) {
      writer.close();
      throw e;
    }
    try {
      writer.connectPeer(kind === 'tcp' ? { peerId: 1, host: '127.0.0.1', port: owner.listenPort } : { peerId: 1 });
      await waitConnected(writer, 1);
      if (kind === 'shm' || kind === 'verbs') {
        results.push(await measureFabric(writer, `${kind} write+poll`, 'spin', args.iterations, args.warmup, args.size, report));
      } else {
        const modes = args.modes.split(',') as WaitMode[];
        if (modes.includes('spin')) results.push(await measureFabric(writer, 'tcp write+poll (spinning poll)', 'spin', tcpIterations, tcpWarmup, args.size, report));
        if (modes.includes('wait')) results.push(await measureFabric(writer, 'tcp write+poll (waitCompletions)', 'wait', tcpIterations, tcpWarmup, args.size, report));
      }
    } finally {
      writer.close();
      await stopChild(owner);
    }
  }
  if (backends.includes('tcp')) {
    const echo = await startChild(['--role', 'echo']);
    try {
      results.push(await measurePingPong(echo.listenPort, tcpIterations, tcpWarmup, args.size, report));
    } finally {
      await stopChild(echo);
    }
  }
  const baseline = results.find((r) => r.name.startsWith('raw Node'));
  const ratios: Record<string, number> = {};
  if (baseline) for (const r of results) if (r.name.startsWith('tcp')) ratios[r.name] = Math.round((r.p50us / baseline.p50us) * 100) / 100;
  if (args.json) {
    process.stdout.write(JSON.stringify({ sizeBytes: args.size, node: process.version, results, tcpMedianOverBaseline: ratios }, null, 2) + '\n');
    return;
  }
  console.log(`one-sided write of ${args.size} B until its completion is polled (µs)`);
  console.log(['name'.padEnd(40), 'n', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'].join('\t'));
  for (const r of results) console.log([r.name.padEnd(40), r.iterations, r.p50us, r.p90us, r.p99us, r.p999us, r.maxus, r.meanus].join('\t'));
  for (const [name, ratio] of Object.entries(ratios)) console.log(`${name}: median ${ratio}x the raw ping-pong (target <= 1.2x)`);
}

async function main(): Promise<void> {
  const args = parseArgs();
  if (args.role === 'owner') return runOwner(args);
  if (args.role === 'echo') return runEcho();
  await runMain(args);
}

main().catch((e) => {
  console.error(`bench-fabric: ${(e as Error).message}`);
  process.exit(1);
});
