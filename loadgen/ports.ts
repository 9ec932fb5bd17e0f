/**
 * Loopback ports for the processes the tools start: a port that was free a moment ago, and a
 * bounded wait until a started process listens on it (failing early if the process died).
 */
import type { ChildProcess } from 'child_process';
import * as net from 'net';

/** A port that was free a moment ago (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
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

/**
 * Node ports for one cluster: `count` ports from `nextFree`, all different. A free port is free
 * again once probed, so two probes in a row may return the same one, and a config that gives two
 * roles one port is refused (a chaos run failed to start a node that way).
 */
export async function distinctFreePorts(count: number, nextFree: () => Promise<number> = freePort): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < count * 100; attempt++) ports.add(await nextFree());
  if (ports.size < count) throw new Error(`only ${ports.size} distinct free ports of ${count} after ${count * 100} attempts`);
  return [...ports];
}

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (port > 65535) return resolve(false);
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A base port such that every `base + offset` is free a moment ago: for tools that number their
 * ports from one base (`mucached cluster --port P --fabric-port F` uses P+i, F+i and F+100+i).
 */
export async function freePortBase(offsets: number[], nextFree: () => Promise<number> = freePort): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = await nextFree();
    let all = true;
    for (const o of offsets) if (!(await portFree(base + o))) { all = false; break; }
    if (all) return base;
  }
  throw new Error(`no base port with ${offsets.length} free offsets after 100 attempts`);
}

function running(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects if `proc` exits or after timeoutMs. */
export async function waitForListening(port: number, proc: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    if (proc && !running(proc)) throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before listening`);
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
