#!/usr/bin/env node
/**
 * main-st-failover: fail-over time of a local Mu group. Each round starts a fresh group of
 * main-st-stream processes, lets node 1 lead and commit a stream of entries, kills it with SIGKILL,
 * and measures the time from the kill to the first entry committed by the new leader (both clocks
 * are this host's). Prints every round, the median and the 90th percentile, and where the time went:
 * the new leader's log lines (main-st-stream `log` lines) give the phases, each in ms after the kill:
 *   lost     the new leader declared the old one dead (detection)
 *   stand    it stood for leader
 *   granted  a majority granted it write permission (prepare starts)
 *   read     the granting peers' logs were read (prepare's reads)
 *   adopt    the values to adopt were chosen from them (recovery.ts)
 *   leader   prepare written to a majority
 *   synced   the first follower was caught up (streaming)
 *   commit   its first entry committed
 *   main-st-failover --fabric shm|tcp [--rounds 20] [--nodes 3] [--steady-ms 0] [--scan-ms 1]
 *                    [--dead-after 12] [--election-poll-ms 0.02] [--no-rehearse] [--no-herald] [--trace] [--json]
 * The members rehearse a take-over at start-up (mu-core/rehearsal.ts) unless --no-rehearse. On tcp
 * each member runs a death herald (binding/src/herald.h) unless --no-herald.
 * Every process is stopped by its PID; every wait is bounded.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { percentile } from './main-st-common';
import { removeShmClusterFiles } from '../binding/shm-files';
import { freePort } from './ports';
import { waitUntil } from './wait';

/** Phases of one fail-over, in ms after the kill (NaN: not seen). */
const PHASES = ['lost', 'stand', 'granted', 'read', 'adopt', 'leader', 'synced', 'commit'] as const;
type Phase = (typeof PHASES)[number];
type Breakdown = Record<Phase, number>;

/** The first line of each phase from the new leader's timestamped log, after the kill. */
function breakdownOf(lines: string[], killedAt: number, oldLeader: number): Breakdown {
  const out = Object.fromEntries(PHASES.map((p) => [p, NaN])) as Breakdown;
  const mark = (p: Phase, t: number) => { if (t > killedAt && Number.isNaN(out[p])) out[p] = t - killedAt; };
  for (const l of lines) {
    if (l.startsWith('commit ')) { mark('commit', Number(l.split(' ')[3])); continue; }
    const m = /^log (\S+) (.*)$/.exec(l);
    if (m === null) continue;
    const t = Number(m[1]);
    const msg = m[2];
    if (msg === `peer ${oldLeader} lost`) mark('lost', t);
    else if (msg === 'standing for leader') mark('stand', t);
    else if (msg.startsWith('prepare: granted')) mark('granted', t);
    else if (msg.startsWith('prepare: read')) mark('read', t);
    else if (msg.startsWith('prepare: adopting')) mark('adopt', t);
    else if (msg.startsWith('became leader')) mark('leader', t);
    else if (/^follower \d+ caught up/.test(msg)) mark('synced', t);
  }
  return out;
}

function formatBreakdown(b: Breakdown): string {
  return PHASES.map((p) => `${p} ${Number.isNaN(b[p]) ? '-' : b[p].toFixed(2)}`).join('  ');
}

interface Proc {
  id: number;
  child: ChildProcess;
  lines: string[];
  /** Entries this member applied and proposals of it committed (its --quiet count lines). */
  applied: number;
  committed: number;
  exited: Promise<void>;
}

function start(id: number, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [path.join(__dirname, 'main-st-stream.js'), String(id), ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const p: Proc = { id, child, lines: [], applied: 0, committed: 0, exited: new Promise((r) => child.once('exit', () => r())) };
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      if (l.startsWith('applied ')) p.applied = Number(l.slice(8));
      else if (l.startsWith('committed ')) p.committed = Number(l.slice(10));
      else p.lines.push(l);
    }
  });
  return p;
}

async function kill(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  process.kill(p.child.pid, 'SIGKILL');
  await p.exited;
}

const now = () => performance.timeOrigin + performance.now();

/** Every survivor's log lines after the kill, in ms after it (--trace). */
function traceOf(procs: Proc[], killedAt: number): string {
  return procs.map((p) => {
    const lines = p.lines.filter((l) => l.startsWith('log ') && Number(l.split(' ')[1]) > killedAt)
      .map((l) => { const [, t, ...msg] = l.split(' '); return `  ${(Number(t) - killedAt).toFixed(2)} ${msg.join(' ')}`; });
    return `node ${p.id}:\n${lines.join('\n')}`;
  }).join('\n');
}

async function oneRound(fabric: 'shm' | 'tcp', nodes: number, extra: string[], steadyMs: number, trace: boolean): Promise<{ ms: number; phases: Breakdown }> {
  const cluster = `failover-${process.pid}-${randomBytes(3).toString('hex')}`;
  const peers: string[] = [];
  for (let id = 1; id <= nodes; id++) peers.push(fabric === 'tcp' ? `${id}=127.0.0.1:${await freePort()}` : `${id}=`);
  const env = { ...process.env, MU_SECRET: randomBytes(16).toString('hex') };
  const snapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mu-failover-'));
  const args = ['--peers', peers.join(','), '--fabric', fabric, '--cluster', cluster, '--outstanding', '1', '--max', '10000000', '--quiet', '--snapshot-dir', snapDir, ...extra];
  const procs = Array.from({ length: nodes }, (_, i) => start(i + 1, args, env));
  try {
    const commitsOf = (p: Proc) => p.lines.filter((l) => l.startsWith('commit '));
    // Every member must be a voter too: one that started late (a loaded machine) joined a group with
    // history and votes only once the leader synced it; with node 1 gone no majority could prepare.
    const voter = (p: Proc) => p.lines.some((l) => l.startsWith('log ') && (l.endsWith(' starting a new group') || l.endsWith(': a voter again')));
    await waitUntil(() => procs[0].committed >= 200 && procs.every((p) => p.applied >= 100 && voter(p)), 30_000, 'node 1 to commit 200 entries, every member a voter', 2);
    // A leader dies in a group that has run for a while: right after start-up every process is still
    // compiling (V8's compiler threads take the cores the survivors need).
    await new Promise((r) => setTimeout(r, steadyMs));
    if (procs.some((p) => p.child.exitCode !== null)) throw new Error('a member exited before the kill');
    const killedAt = now();
    await kill(procs[0]);
    const firstNew = () => {
      let best = { t: Infinity, p: procs[1] };
      for (const p of procs.slice(1)) {
        for (const l of commitsOf(p)) {
          const t = Number(l.split(' ')[3]);
          if (t > killedAt && t < best.t) best = { t, p }; // a survivor may have led during the start-up churn
        }
      }
      return best;
    };
    await waitUntil(() => firstNew().t < Infinity, 30_000, 'a new leader to commit', 2).catch((e: Error) => {
      const tails = procs.slice(1).map((p) => `--- node ${p.id} ---\n${p.lines.filter((l) => l.startsWith('log ') && !/peer \d (lost|is alive)/.test(l)).slice(-25).join('\n')}`);
      throw new Error(`${e.message}\n${tails.join('\n')}`);
    });
    const { t, p } = firstNew();
    if (trace) console.log(traceOf(procs.slice(1), killedAt));
    return { ms: t - killedAt, phases: breakdownOf(p.lines, killedAt, procs[0].id) };
  } finally {
    await Promise.all(procs.map(kill));
    fs.rmSync(snapDir, { recursive: true, force: true });
    // The killed leader leaves its shm regions behind.
    if (fabric === 'shm') removeShmClusterFiles(cluster);
  }
}

async function main(): Promise<number> {
  const a = yargs(process.argv.slice(2))
    .option('fabric', { choices: ['shm', 'tcp'], default: 'shm' })
    .option('rounds', { type: 'number', default: 20 })
    .option('nodes', { type: 'number', default: 3 })
    .option('scan-ms', { type: 'number', describe: 'scan and heartbeat interval (default per fabric)' })
    .option('dead-after', { type: 'number', describe: 'scans without heartbeat progress before a peer is dead' })
    .option('election-poll-ms', { type: 'number', describe: 'mailbox poll while leadership changes (0 = on scans only)' })
    .option('steady-ms', { type: 'number', default: 0, describe: 'ms of streaming after start-up before the kill (0: kill as soon as the group works)' })
    .option('rehearse', { type: 'boolean', default: true, describe: 'members rehearse a take-over on the simulated fabric at start-up (--no-rehearse: their first take-over runs cold code)' })
    .option('herald', { type: 'boolean', default: true, describe: 'tcp: members run death heralds (--no-herald: survivors learn of the kill when the dead process\'s sockets close)' })
    .option('trace', { type: 'boolean', default: false, describe: 'print every survivor\'s log lines after each kill' })
    .option('json', { type: 'boolean', default: false })
    .strict()
    .parseSync();
  const extra = [
    ...(a['scan-ms'] !== undefined ? ['--scan-ms', String(a['scan-ms'])] : []),
    ...(a['dead-after'] !== undefined ? ['--dead-after', String(a['dead-after'])] : []),
    ...(a['election-poll-ms'] !== undefined ? ['--election-poll-ms', String(a['election-poll-ms'])] : []),
    ...(a.rehearse ? [] : ['--no-rehearse']),
    ...(a.herald ? [] : ['--no-herald']),
  ];
  const ms: number[] = [];
  const breakdowns: Breakdown[] = [];
  for (let r = 0; r < a.rounds; r++) {
    const { ms: t, phases } = await oneRound(a.fabric as 'shm' | 'tcp', a.nodes, extra, a['steady-ms'], a.trace && !a.json);
    ms.push(t);
    breakdowns.push(phases);
    if (!a.json) console.log(`round ${r + 1}: first commit by the new leader ${t.toFixed(3)} ms after SIGKILL  (${formatBreakdown(phases)})`);
  }
  const sorted = [...ms].sort((x, y) => x - y);
  // Median of each phase over the rounds that saw it.
  const phaseMedians = Object.fromEntries(PHASES.map((p) => {
    const seen = breakdowns.map((b) => b[p]).filter((v) => !Number.isNaN(v)).sort((x, y) => x - y);
    return [p, percentile(seen, 50)];
  })) as Breakdown;
  const result = {
    tool: 'main-st-failover', fabric: a.fabric, nodes: a.nodes, rounds: a.rounds, rehearse: a.rehearse, herald: a.fabric === 'tcp' ? a.herald : undefined, steadyMs: a['steady-ms'], medianMs: percentile(sorted, 50), p90Ms: percentile(sorted, 90),
    allMs: ms, phaseMediansMs: phaseMedians,
  };
  if (a.json) console.log(JSON.stringify(result));
  else {
    console.log(`fail-over (${a.fabric}, ${a.nodes} nodes${a.rehearse ? '' : ', no rehearsal'}${a.fabric === 'tcp' && !a.herald ? ', no heralds' : ''}): median ${result.medianMs.toFixed(3)} ms, p90 ${result.p90Ms.toFixed(3)} ms over ${a.rounds} kills`);
    console.log(`phase medians (ms after SIGKILL): ${formatBreakdown(phaseMedians)}`);
  }
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e) => {
    console.error(`main-st-failover: ${(e as Error).message}`);
    process.exit(1);
  });
}
