/**
 * memcached's process flags, on the real daemon: a Debian memcached.conf line (-d -m -p -u -l -P)
 * starts mucached in the background as the named user with a PID file; a daemon that cannot start
 * says why and the foreground command fails; -P without -d; flags that tune memcached internals are
 * accepted with a note, and flags for features mucached lacks are refused with the reason.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { exchange } from '../helpers/cluster';
import { daemonCli, freePort, startMemcached, startMucached, waitForPort } from '../helpers/procs';
import { processAlive } from '../../loadgen/wait';

jest.setTimeout(60_000);

interface Exit {
  code: number | null;
  stderr: string;
}

/** Runs the daemon's command to its exit (bounded: killed after `timeoutMs`). */
function runToExit(args: string[], timeoutMs = 20_000): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [daemonCli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', (d) => { stderr += d.toString(); });
    child.stderr.on('data', (d) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Stops `pid` with SIGTERM and waits (bounded) until it is gone; SIGKILL if it lingers. */
async function stopPid(pid: number, timeoutMs = 5000): Promise<boolean> {
  if (!processAlive(pid)) return true;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!processAlive(pid)) return true;
  process.kill(pid, 'SIGKILL');
  return false;
}

/** Real uid and session id of a process, from /proc. */
function procIdentity(pid: number): { uid: number; sessionId: number } {
  const uidLine = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  // stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces, so count from its ')'.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { uid: Number(uidLine.split(/\s+/)[1]), sessionId: Number(afterComm[3]) };
}

function userIds(name: string): { uid: number; gid: number } | null {
  try {
    const fields = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':');
    return { uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return null;
  }
}

const isRoot = process.getuid?.() === 0;
// Debian's memcached package creates the user its memcached.conf names.
const memcacheUser = userIds('memcache');

describe('a Debian memcached.conf line starts mucached (-d -m -p -u -l -P)', () => {
  const itAsRoot = isRoot && memcacheUser !== null ? it : it.skip;
  if (!isRoot || memcacheUser === null) console.warn('process-flags: -u/-d test skipped (needs root and the memcache user from Debian\'s memcached package)');

  itAsRoot('the command returns once the daemon serves, as that user, in its own session; SIGTERM removes its PID file', async () => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-run-'));
    // As /var/run/memcached: the directory belongs to the user the daemon becomes.
    fs.chownSync(runDir, memcacheUser!.uid, memcacheUser!.gid);
    const pidFile = path.join(runDir, 'mucached.pid');
    const port = await freePort();
    const started = await runToExit(['-d', '-m', '64', '-p', String(port), '-u', 'memcache', '-l', '127.0.0.1', '-P', pidFile]);
    expect(started.code).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    try {
      expect(pid).toBeGreaterThan(0);
      expect(started.stderr).toContain(`running as user memcache (uid ${memcacheUser!.uid}`);
      expect(started.stderr).toContain(`pid ${pid} listening on 127.0.0.1:${port}`);
      // Served at once: the foreground command returned only after the daemon listened.
      expect(await exchange(port, 'set dropin 0 0 2\r\nok\r\nget dropin\r\n', (r) => r.endsWith('END\r\n'))).toBe('STORED\r\nVALUE dropin 0 2\r\nok\r\nEND\r\n');
      const identity = procIdentity(pid);
      expect(identity.uid).toBe(memcacheUser!.uid);
      expect(identity.sessionId).toBe(pid); // a session leader, detached from ours
      expect(identity.sessionId).not.toBe(procIdentity(process.pid).sessionId);
    } finally {
      expect(await stopPid(pid)).toBe(true);
    }
    expect(fs.existsSync(pidFile)).toBe(false);
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('-d on a port in use: the command fails with the reason and the exit code, and no daemon stays behind', async () => {
    const holder = await startMemcached();
    try {
      const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-run-')), 'mucached.pid');
      const result = await runToExit(['-d', '-p', String(holder.port), '-P', pidFile]);
      expect(result.code).toBe(71);
      expect(result.stderr).toMatch(/cannot start on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      expect(result.stderr).toContain('the daemon exited before it listened (exit code 71)');
      expect(fs.existsSync(pidFile)).toBe(false);
    } finally {
      await holder.stop();
    }
  });

  it('-u with a user that does not exist stops with memcached\'s words and EX_NOUSER (as root), or is ignored (not root)', async () => {
    const port = await freePort();
    if (isRoot) {
      const result = await runToExit(['-u', 'no-such-user-mucached', '-p', String(port)]);
      expect(result.code).toBe(67);
      expect(result.stderr).toContain("can't find the user no-such-user-mucached to switch to");
    } else {
      const server = await startMucached(['-u', 'no-such-user-mucached']);
      expect(server.output()).toContain('not started as root');
      await server.stop();
    }
  });
});

describe('-P without -d', () => {
  it('holds the PID once the daemon listens, and is removed when it stops', async () => {
    const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-run-')), 'mucached.pid');
    const server = await startMucached(['-P', pidFile]);
    try {
      // The file is written right after the listen: allow the moment between the two.
      const deadline = Date.now() + 5000;
      while (!fs.existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${server.proc.pid}\n`);
    } finally {
      await server.stop();
    }
    expect(server.proc.exitCode).toBe(0);
    expect(fs.existsSync(pidFile)).toBe(false);
  });
});

describe('flags for memcached internals and for features mucached lacks', () => {
  it('-f -n -R -t are accepted, each -f/-n/-R with a logged note, and the daemon serves', async () => {
    const server = await startMucached(['-f', '1.5', '-n', '64', '-R', '40', '-t', '8']);
    try {
      await waitForPort(server.port);
      expect(await exchange(server.port, 'version\r\n', (r) => r.endsWith('\r\n'))).toMatch(/^VERSION /);
      for (const flag of ['-f (--slab-growth-factor)', '-n (--slab-min-size)', '-R (--max-reqs-per-event)']) {
        expect(server.output()).toContain(`${flag} accepted for compatibility with memcached, has no effect`);
      }
    } finally {
      await server.stop();
    }
  });

  it.each([
    [['-Z'], '-Z needs a certificate and its key'],
    [['-Y', '/etc/passwd'], 'ASCII authentication is not supported'],
    [['-e', '/dev/shm/mucached-memory'], 'restartable memory file is not supported'],
    [['-S', '-B', 'ascii'], 'cannot be combined with -B ascii'],
    [['-s', '/tmp/mucached.sock', '--config', '/nonexistent.json'], '-s (UNIX socket) is for a single node'],
  ])('%j is refused before anything starts: %s', async (args, reason) => {
    const port = await freePort();
    const result = await runToExit(['-p', String(port), ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(reason);
  });
});
