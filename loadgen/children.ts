/**
 * Every server process the bench spawns, from spawn to exit, and every temporary directory it
 * makes, so a Ctrl-C that arrives while a cluster is still starting (before anything owns the
 * processes) stops them too, each by its PID, and leaves no directory behind.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function registerChild(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

const running = (p: ChildProcess): boolean => p.exitCode === null && p.signalCode === null;

/**
 * SIGTERM to each live child, SIGKILL to those still running after graceMs; once all exited, the
 * registered temporary directories are removed.
 */
export async function stopRegisteredChildren(graceMs = 5000): Promise<void> {
  const procs = [...live].filter(running);
  await Promise.all(procs.map(async (p) => {
    const pid = p.pid as number;
    const exited = new Promise<void>((resolve) => { if (!running(p)) resolve(); else p.once('exit', () => resolve()); });
    process.kill(pid, 'SIGTERM');
    const timer = setTimeout(() => { if (running(p)) process.kill(pid, 'SIGKILL'); }, graceMs);
    await exited;
    clearTimeout(timer);
  }));
  for (const dir of [...tempDirs]) removeTempDir(dir);
}
