/**
 * The servers a benchmark starts for itself: stock memcached (one worker thread, as the baseline)
 * and single-node mucached from dist/, each on a free loopback port, each stopped by its PID.
 * Every wait is bounded.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export type SystemName = 'memcached' | 'mucached';
export const SYSTEMS: readonly SystemName[] = ['memcached', 'mucached'];

export const repoRoot = path.resolve(__dirname, '..', '..');
export const mucachedCli = path.join(repoRoot, 'dist', 'daemon', 'cli.js');

export interface StartedServer {
  system: SystemName;
  port: number;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline && attempt < 2000; attempt++) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
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

function commandFor(system: SystemName, port: number, memcachedThreads: number): [string, string[]] {
  if (system === 'memcached') {
    return [memcachedBinary(), ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', String(memcachedThreads), ...memcachedUserArgs()]];
  }
  if (!fs.existsSync(mucachedCli)) throw new Error(`${mucachedCli} not found: run \`npm run build\` first (or choose --systems memcached)`);
  return [process.execPath, [mucachedCli, '-p', String(port), '-l', '127.0.0.1']];
}

export async function startServer(system: SystemName, memcachedThreads = 1, startTimeoutMs = 15_000): Promise<StartedServer> {
  const port = await freePort();
  const [cmd, args] = commandFor(system, port, memcachedThreads);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      process.kill(proc.pid, 'SIGTERM');
      const killTimer = setTimeout(() => { if (proc.exitCode === null && proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL'); }, 5000);
      await exited;
      clearTimeout(killTimer);
    },
  };
  try {
    await waitForPort(port, proc, startTimeoutMs);
  } catch (err) {
    await started.stop();
    throw new Error(`${system} (${cmd} ${args.join(' ')}): ${(err as Error).message}\n${out}`);
  }
  return started;
}
