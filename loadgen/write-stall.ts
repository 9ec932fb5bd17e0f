#!/usr/bin/env node
/**
 * write-stall: how long a client's writes stall when the leader of a 3-node cluster is killed.
 * Each round starts a cluster (loadgen/cluster.ts), optionally fills the cache with 100 KB values
 * (a node holding much memory takes the kernel that much longer to tear down once killed), writes
 * in a closed loop through a follower, SIGKILLs the leader and measures the stall: the longest a
 * write sent before the kill (or just after it) waited past the kill for its answer. Prints every
 * round and the median; --json for one object. Every process is stopped by its PID.
 *
 *   write-stall [--fabric tcp|shm] [--rounds 5] [--fill-mb 0] [--no-herald] [--json]
 */
import * as fs from 'fs';
import yargs from 'yargs';
import { startCluster, RunningCluster } from './cluster';
import { stopRegisteredChildren } from './children';
import { ClusterFabric } from './cluster-config';
import { parseVmRssKiB } from './chaos/soak-verdict';
import { TextConnection } from './chaos/text-client';
import { percentile } from './main-st-common';
import { freePort, mucachedCli } from './servers';

/** Steady writes before the kill, and how long after it writes may take to come back. */
const STEADY_MS = 500;
const RESUME_TIMEOUT_MS = 10_000;
/** Writes sent this long after the kill still count towards the stall (the client's next one). */
const SENT_AFTER_KILL_MS = 50;
const FILL_VALUE_BYTES = 100_000;
const FILL_CONNECTIONS = 4;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** One set over `conn` (one request at a time, chaos/text-client.ts); throws unless STORED. */
async function set(conn: TextConnection, key: string, value: string, timeoutMs: number, via: string): Promise<void> {
  const reply = await conn.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, false, timeoutMs);
  if (reply !== 'STORED\r\n') throw new Error(`${via}: set ${key} answered '${reply.trimEnd()}'`);
}

/** Loads about `mb` MB of 100 KB values into the cluster through the leader. */
async function fill(port: number, mb: number): Promise<void> {
  const count = Math.ceil((mb * 1_000_000) / FILL_VALUE_BYTES);
  const value = 'a'.repeat(FILL_VALUE_BYTES);
  let next = 0;
  const conns = await Promise.all(Array.from({ length: FILL_CONNECTIONS }, () => TextConnection.open(port, 10_000)));
  try {
    await Promise.all(conns.map(async (c) => {
      for (let k = next++; k < count; k = next++) await set(c, `fill-${k}`, value, 10_000, 'fill');
    }));
  } finally {
    conns.forEach((c) => c.close());
  }
}

interface Round {
  stallMs: number;
  leaderRssMb: number;
  writes: number;
}

function rssMb(pid: number): number {
  try {
    return Math.round((parseVmRssKiB(fs.readFileSync(`/proc/${pid}/status`, 'utf8')) ?? 0) / 1024);
  } catch {
    return 0;
  }
}

async function oneRound(fabric: ClusterFabric, fillMb: number, herald: boolean | undefined): Promise<Round> {
  const memoryMb = Math.max(64, Math.ceil(fillMb * 1.5));
  const cluster: RunningCluster = await startCluster({ cli: mucachedCli, fabric, herald, extraArgs: ['-m', String(memoryMb), '-I', '1m'] }, freePort);
  try {
    const leader = cluster.leader();
    if (fillMb > 0) await fill(leader.clientPort, fillMb);
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    const conn = await TextConnection.open(follower.clientPort, RESUME_TIMEOUT_MS);
    const sends: Array<{ sentMs: number; answeredMs: number }> = [];
    let killAtMs = 0;
    let resumed = false;
    let writes = 0;
    const loop = (async () => {
      for (let i = 0; i < 10_000_000 && !resumed; i++) {
        const sentMs = nowMs();
        await set(conn, `stall-${i % 100}`, String(i), RESUME_TIMEOUT_MS, `through node ${follower.id}`);
        const answeredMs = nowMs();
        writes++;
        if (killAtMs > 0) {
          sends.push({ sentMs, answeredMs });
          if (sentMs > killAtMs + SENT_AFTER_KILL_MS) resumed = true;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, STEADY_MS));
    const leaderRssMb = rssMb(leader.proc.pid!);
    killAtMs = nowMs();
    process.kill(leader.proc.pid!, 'SIGKILL');
    await loop;
    conn.close();
    let stallMs = 0;
    for (const s of sends) if (s.sentMs <= killAtMs + SENT_AFTER_KILL_MS) stallMs = Math.max(stallMs, s.answeredMs - Math.max(s.sentMs, killAtMs));
    return { stallMs, leaderRssMb, writes };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<number> {
  const a = yargs(process.argv.slice(2))
    .scriptName('write-stall')
    .usage('$0 [options]\n\nHow long writes through a follower stall when the leader of a 3-node cluster is killed (SIGKILL).')
    .option('fabric', { choices: ['tcp', 'shm'], default: 'tcp' })
    .option('rounds', { type: 'number', default: 5, describe: 'kills, each on a fresh cluster' })
    .option('fill-mb', { type: 'number', default: 0, describe: 'MB of 100 KB values loaded first (the killed leader then holds that much more memory)' })
    .option('herald', { type: 'boolean', default: true, describe: 'tcp: nodes run death heralds (--no-herald: survivors learn of the kill when the dead process\'s sockets close)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of lines' })
    .strict()
    .help()
    .version(false)
    .parseSync();
  if (!Number.isInteger(a.rounds) || a.rounds < 1 || a.rounds > 1000) throw new Error('--rounds takes 1..1000');
  if (!(a['fill-mb'] >= 0 && a['fill-mb'] <= 16_000)) throw new Error('--fill-mb takes 0..16000');
  const fabric = a.fabric as ClusterFabric;
  const herald = fabric === 'tcp' ? a.herald : undefined;
  const onSignal = (): void => { void stopRegisteredChildren().then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rounds: Round[] = [];
  for (let r = 0; r < a.rounds; r++) {
    const round = await oneRound(fabric, a['fill-mb'], herald);
    rounds.push(round);
    if (!a.json) console.log(`round ${r + 1}/${a.rounds}: writes stalled ${round.stallMs.toFixed(2)} ms (leader RSS ${round.leaderRssMb} MB, ${round.writes} writes)`);
  }
  const sorted = rounds.map((r) => r.stallMs).sort((x, y) => x - y);
  const result = {
    tool: 'write-stall', fabric, herald, fillMb: a['fill-mb'], rounds: a.rounds,
    medianStallMs: percentile(sorted, 50), maxStallMs: sorted[sorted.length - 1], allStallMs: rounds.map((r) => r.stallMs),
    leaderRssMb: rounds.map((r) => r.leaderRssMb),
  };
  if (a.json) console.log(JSON.stringify(result));
  else console.log(`write stall at a leader kill (${fabric}${fabric === 'tcp' && !herald ? ', no heralds' : ''}, fill ${a['fill-mb']} MB): median ${result.medianStallMs.toFixed(2)} ms, max ${result.maxStallMs.toFixed(2)} ms over ${a.rounds} kills`);
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), async (e) => {
    console.error(`write-stall: ${(e as Error).message}`);
    await stopRegisteredChildren();
    process.exit(1);
  });
}
