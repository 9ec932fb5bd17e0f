/**
 * Loopback ports for the processes the tools start: a port that was free a moment ago, and a
 * bounded wait until a started process listens on it (failing early if the process died).
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
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

/** Inodes of the sockets listening on `port` (IPv4 and IPv6); null where /proc/net cannot tell. */
function listenerInodes(port: number): Set<string> | null {
  const inodes = new Set<string>();
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode (field 9); state 0A is LISTEN.
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16) === port) inodes.add(f[9]);
    }
  }
  return readAny ? inodes : null;
}

/**
 * Whether process `pid` holds a socket listening on `port` (null: /proc cannot tell). A port that
 * was free a moment ago may have gone to another process meanwhile (a parallel test, a client's
 * ephemeral port): then ours fails to bind while the other answers connections, and a test talked
 * to the wrong server (a differential run once compared memcached's answers for another script).
 */
export function listensOn(pid: number, port: number): boolean | null {
  const inodes = listenerInodes(port);
  if (inodes === null) return null;
  if (inodes.size === 0) return false;
  let fds: string[];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return null; }
  for (const fd of fds) {
    let link: string;
    try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1])) return true;
  }
  return false;
}

/**
 * Resolves once 127.0.0.1:port accepts a connection, and (given `proc`, where /proc can tell) once
 * the listener is `proc`'s own; rejects if `proc` exits or after timeoutMs.
 */
export async function waitForListening(port: number, proc: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let takenBy = false;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    if (proc && !running(proc)) throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before listening on port ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok && (proc?.pid === undefined || listensOn(proc.pid, port) !== false)) return;
    takenBy = ok;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (takenBy) throw new Error(`127.0.0.1:${port} answers, but another process than pid ${proc?.pid} listens there (after ${timeoutMs} ms)`);
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
