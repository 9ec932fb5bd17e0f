/**
 * Real processes for tests: the Debian `memcached` binary and our own daemon, each on a free
 * loopback port, each stopped by its PID. Every wait here is bounded in time.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { freePort, waitForListening } from '../../loadgen/ports';

export { freePort };

export const repoRoot = path.resolve(__dirname, '..', '..');
export const daemonCli = path.join(repoRoot, 'dist', 'daemon', 'cli.js');

export function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  return waitForListening(port, undefined, timeoutMs);
}

export interface RunningServer {
  port: number;
  proc: ChildProcess;
  /** Everything the process wrote to stdout/stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

function track(proc: ChildProcess, port: number): RunningServer {
  let out = '';
  proc.stdout?.on('data', (d) => { out += d.toString(); });
  proc.stderr?.on('data', (d) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    port,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (proc.pid !== undefined) process.kill(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => { if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL'); }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function memcachedPath(): string {
  const r = spawnSync('sh', ['-c', 'command -v memcached || ls /usr/bin/memcached']);
  const p = r.stdout.toString().trim().split('\n')[0];
  if (!p) throw new Error('memcached not found: apt-get install -y memcached');
  return p;
}

/** Stock memcached from Debian, one thread by default, loopback only. */
export async function startMemcached(extraArgs: string[] = []): Promise<RunningServer> {
  const port = await freePort();
  // memcached refuses to run as root without -u.
  const asRoot = process.getuid?.() === 0 && !extraArgs.includes('-u') ? ['-u', 'root'] : [];
  const proc = spawn(memcachedPath(), ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', ...asRoot, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = track(proc, port);
  await waitForPort(port);
  return server;
}

/** Our daemon from dist/ (run `npm run build` first), on a free loopback port. */
export async function startMucached(extraArgs: string[] = []): Promise<RunningServer> {
  const port = await freePort();
  const proc = spawn(process.execPath, [daemonCli, '-p', String(port), '-l', '127.0.0.1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = track(proc, port);
  await waitForPort(port);
  return server;
}
