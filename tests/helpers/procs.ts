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

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script with this Node to its end, collecting its output; SIGKILL (by PID) after timeoutMs. */
export function runScript(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [file, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => { stdout += d.toString(); });
    proc.stderr!.on('data', (d) => { stderr += d.toString(); });
    const timer = setTimeout(() => { if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL'); }, opts.timeoutMs ?? 30_000);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Until something listens on `port`: given `proc`, until `proc` itself does (rejects if it exits). */
export function waitForPort(port: number, timeoutMs = 10_000, proc?: ChildProcess): Promise<void> {
  return waitForListening(port, proc, timeoutMs);
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

/**
 * Starts a server on a port that was free a moment ago, and waits until that process listens there.
 * The port may be taken meanwhile (tests run in parallel): the server then exits, and it is started
 * again on another port, a few times at most.
 */
async function startOnFreePort(what: string, spawnOn: (port: number) => ChildProcess): Promise<RunningServer> {
  const attempts = 4;
  let failures = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort();
    const server = track(spawnOn(port), port);
    try {
      await waitForPort(port, 10_000, server.proc);
      return server;
    } catch (err) {
      await server.stop();
      failures += `\nattempt ${attempt} (port ${port}): ${(err as Error).message}\n${server.output().slice(-1000)}`;
    }
  }
  throw new Error(`${what} did not start in ${attempts} attempts:${failures}`);
}

/** Stock memcached from Debian, one thread by default, loopback only. */
export function startMemcached(extraArgs: string[] = []): Promise<RunningServer> {
  // memcached refuses to run as root without -u.
  const asRoot = process.getuid?.() === 0 && !extraArgs.includes('-u') ? ['-u', 'root'] : [];
  return startOnFreePort('memcached', (port) => spawn(memcachedPath(), ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', ...asRoot, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
}

/** Our daemon from dist/ (run `npm run build` first), on a free loopback port. */
export function startMucached(extraArgs: string[] = []): Promise<RunningServer> {
  return startOnFreePort('mucached', (port) => spawn(process.execPath, [daemonCli, '-p', String(port), '-l', '127.0.0.1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
}
