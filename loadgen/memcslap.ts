/**
 * Runs Debian's `memcslap` (libmemcached-tools) as the reference load generator: with
 * --concurrency=C it runs C threads, each with its own connection and one request in flight, the
 * same shape as our closed loop with C connections and --pipeline 1.
 */
import { spawn, spawnSync } from 'child_process';

export interface MemcslapResult {
  test: 'set' | 'get';
  concurrency: number;
  operations: number;
  seconds: number;
  throughputPerSec: number;
}

export function memcslapBinary(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v memcslap || command -v memslap'], { encoding: 'utf8' });
  const p = (r.stdout ?? '').trim().split('\n')[0];
  return p === '' ? null : p;
}

/**
 * Parses memcslap's "Time to set   320000 keys by   16 threads:  4.644 seconds." line. The
 * operation count used is threads x execute-number (every request issued), which is at least what
 * it prints for gets (it prints only keys found).
 */
export function parseMemcslapSeconds(output: string, test: 'set' | 'get'): number | null {
  const m = new RegExp(`Time to ${test}\\s+\\d+ keys by\\s+\\d+ threads:\\s+([0-9.]+) seconds`).exec(output);
  return m === null ? null : Number(m[1]);
}

export async function runMemcslap(binary: string, port: number, test: 'set' | 'get', concurrency: number, perThread: number, timeoutMs = 120_000): Promise<MemcslapResult> {
  const args = [`--servers=127.0.0.1:${port}`, `--concurrency=${concurrency}`, `--execute-number=${perThread}`, `--test=${test}`];
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errTail = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { errTail = (errTail + d.toString()).slice(-2000); });
  const timer = setTimeout(() => { if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL'); }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const seconds = parseMemcslapSeconds(out, test);
  if (code !== 0 || seconds === null || seconds <= 0 || errTail.includes('Fatal error')) {
    throw new Error(`memcslap ${args.join(' ')} failed (exit ${code}): ${out.slice(-500)} ${errTail}`);
  }
  const operations = concurrency * perThread;
  return { test, concurrency, operations, seconds, throughputPerSec: operations / seconds };
}
