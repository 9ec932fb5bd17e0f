/**
 * The same protocol code over the native shm and tcp fabrics, with real node processes
 * (dist/loadgen/main-st-stream.js; build first: npx tsc -p tsconfig.json && npm run build:native).
 * The leader streams proposals; it is killed with SIGKILL mid-stream; a new leader must take over
 * and every entry the old leader reported committed must be applied, at the same index, by the
 * survivors. Every process is stopped by its PID; every wait is bounded.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort, repoRoot } from '../tests/helpers/procs';
import { removeShmClusterFiles } from '../binding/shm-files';

const streamCli = path.join(repoRoot, 'dist', 'loadgen', 'main-st-stream.js');

interface Member {
  id: number;
  proc: ChildProcess;
  lines: string[];
  stderr: string;
  exited: Promise<void>;
}

function startMember(id: number, args: string[], env: NodeJS.ProcessEnv): Member {
  const proc = spawn(process.execPath, [streamCli, String(id), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const m: Member = { id, proc, lines: [], stderr: '', exited: new Promise((r) => proc.once('exit', () => r())) };
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    m.lines.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => { m.stderr += d.toString(); });
  return m;
}

async function stop(m: Member, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null || m.proc.pid === undefined) return;
  process.kill(m.proc.pid, signal);
  const timer = setTimeout(() => { if (m.proc.exitCode === null && m.proc.pid !== undefined) process.kill(m.proc.pid, 'SIGKILL'); }, 5000);
  await m.exited;
  clearTimeout(timer);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number, members: Member[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}\n${members.map((m) => `--- node ${m.id} stderr ---\n${m.stderr.slice(-2000)}`).join('\n')}`);
}

const commits = (m: Member) => m.lines.filter((l) => l.startsWith('commit ')).map((l) => l.split(' '));
const applied = (m: Member) => new Map(m.lines.filter((l) => l.startsWith('apply ')).map((l) => { const [, i, p] = l.split(' '); return [Number(i), p] as [number, string]; }));

async function killLeaderMidStream(fabric: 'shm' | 'tcp'): Promise<void> {
  expect(fs.existsSync(streamCli)).toBe(true); // run `npx tsc -p tsconfig.json` first
  const cluster = `mutest-${process.pid}-${randomBytes(4).toString('hex')}`;
  const ids = [1, 2, 3];
  const peers: string[] = [];
  for (const id of ids) peers.push(fabric === 'tcp' ? `${id}=127.0.0.1:${await freePort()}` : `${id}=`);
  const env = { ...process.env, MU_SECRET: randomBytes(16).toString('hex') };
  // A tolerant failure detector: this machine is shared, and a false suspicion only costs a
  // leadership change, but the test wants one clean kill to observe.
  const snapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mu-real-fabric-'));
  const args = ['--peers', peers.join(','), '--fabric', fabric, '--cluster', cluster, '--outstanding', '4', '--max', '100000', '--scan-ms', '2', '--dead-after', '25', '--snapshot-dir', snapDir];
  const members = ids.map((id) => startMember(id, args, env));
  try {
    const [one, two, three] = members;
    await waitFor('node 1 to lead and commit 300 entries', () => commits(one).length >= 300, 30_000, members);
    // Both followers voters: a late starter counts only once a leader synced it and it saw that
    // leader commit past its sync marker. Killing the leader before that leaves one voter, which
    // rightly cannot be elected (it might lack what only the leader held).
    const target = Math.max(...commits(one).map((c) => Number(c[1])));
    const maxApplied = (m: Member) => Math.max(0, ...applied(m).keys());
    const voter = (m: Member) => /starting a new group|: a voter again/.test(m.stderr);
    await waitFor(`both followers to apply index ${target} and vote`, () => maxApplied(two) >= target && maxApplied(three) >= target && voter(two) && voter(three), 30_000, members);
    const killedAt = performance.timeOrigin + performance.now();
    process.kill(one.proc.pid!, 'SIGKILL');
    await one.exited;
    const reported = commits(one);
    const newLeaderCommits = () => [two, three].flatMap((m) => commits(m).filter((c) => Number(c[3]) > killedAt));
    await waitFor('a new leader to commit 100 entries', () => newLeaderCommits().length >= 100, 30_000, members);
    const firstByNewLeader = Math.min(...newLeaderCommits().map((c) => Number(c[3])));
    console.log(`${fabric}: first commit by the new leader ${(firstByNewLeader - killedAt).toFixed(2)} ms after SIGKILL of the leader (${reported.length} commits reported before)`);
    // Let the commit point reach the follower, then stop the survivors (they flush what they applied).
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([stop(two), stop(three)]);
    const a2 = applied(two);
    const a3 = applied(three);
    for (const [, index, payload] of reported) {
      expect({ node: 2, index, payload: a2.get(Number(index)) }).toEqual({ node: 2, index, payload });
      expect({ node: 3, index, payload: a3.get(Number(index)) }).toEqual({ node: 3, index, payload });
    }
    for (const [, index, payload] of newLeaderCommits()) {
      for (const [node, a] of [[2, a2], [3, a3]] as const) {
        if (a.has(Number(index))) expect({ node, index, payload: a.get(Number(index)) }).toEqual({ node, index, payload });
      }
    }
    // Agreement on every index both survivors applied.
    for (const [i, p] of a2) if (a3.has(i)) expect([i, a3.get(i)]).toEqual([i, p]);
  } finally {
    await Promise.all(members.map((m) => stop(m, 'SIGKILL')));
    fs.rmSync(snapDir, { recursive: true, force: true });
    // The killed leader leaves its shm regions behind.
    if (fabric === 'shm') removeShmClusterFiles(cluster);
  }
}

test('shm: SIGKILL of the leader mid-stream loses no committed entry', () => killLeaderMidStream('shm'), 90_000);

test('tcp: SIGKILL of the leader mid-stream loses no committed entry', () => killLeaderMidStream('tcp'), 90_000);
