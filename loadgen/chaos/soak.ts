/**
 * `npm run chaos -- --soak`: the cluster under steady load and no faults, every node's VmRSS read
 * from /proc/<pid>/status every few seconds; the verdict is soak-verdict.ts's. The load: each
 * client loops set/get (2:1) over a key space far larger than one node's working set would need,
 * values of seeded sizes, so the store churns. At the end the replicas must agree on a sample of keys.
 */
import * as fs from 'fs';
import { ChaosCluster, ChaosFabric, Endpoint } from './chaos-cluster';
import { NodeMemory, RssSample, nodeMemory, parseVmRssKiB, windows } from './soak-verdict';
import { TextConnection, parseValueReply } from './text-client';
import { Rng, makeRng } from '../rng';

export interface SoakOptions {
  cli: string;
  fabric: ChaosFabric;
  nodes: number;
  durationMs: number;
  sampleMs: number;
  seed: number;
  clients: number;
  /** Total requests per second across the clients (paced, so the load is steady, not saturating). */
  opsPerSec: number;
  daemonArgs: string[];
  freePort: () => Promise<number>;
  onSample?: (s: { elapsedMs: number; ops: number; rssKiB: number[] }) => void;
}

export interface SoakResult {
  seed: number;
  fabric: ChaosFabric;
  nodes: number;
  durationMs: number;
  opsPerSec: number;
  ops: number;
  failedOps: number;
  samples: Record<number, RssSample[]>;
  memory: NodeMemory[];
  converged: boolean;
  /** When the replicas disagree: some keys and what each node holds. */
  differing: string[];
  /** Failed operations by the shape of their error. */
  errors: Record<string, number>;
  error: string | null;
  passed: boolean;
}

const KEYS = 5000;
const REQUEST_TIMEOUT_MS = 2000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Counts { ops: number; failed: number; errors: Map<string, number> }

function failed(count: Counts, why: string): void {
  count.failed++;
  // Digits vary (ports, ms): group messages by their shape.
  const shape = why.replace(/\d+/g, 'N').slice(0, 120);
  count.errors.set(shape, (count.errors.get(shape) ?? 0) + 1);
}

async function soakClient(node: Endpoint, rng: Rng, intervalMs: number, stopped: () => boolean, count: Counts): Promise<void> {
  let conn: TextConnection | null = null;
  const t0 = Date.now();
  for (let i = 0; i < 1e9 && !stopped(); i++) {
    // Paced: request i is due at t0 + i * intervalMs; a late client catches up without bursting past its rate.
    const dueMs = t0 + i * intervalMs - Date.now();
    if (dueMs > 0) await sleep(dueMs);
    try {
      conn ??= await TextConnection.open(node.port, REQUEST_TIMEOUT_MS, node.host);
      const key = `soak${rng.below(KEYS)}`;
      if (rng.below(3) < 2) {
        const value = 'v'.repeat(16 + rng.below(2000));
        const r = await conn.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, false, REQUEST_TIMEOUT_MS);
        if (r !== 'STORED\r\n') failed(count, `set: ${r.trim()}`);
      } else {
        parseValueReply(await conn.request(`get ${key}\r\n`, true, REQUEST_TIMEOUT_MS));
      }
      count.ops++;
    } catch (e) {
      failed(count, (e as Error).message);
      conn?.close();
      conn = null;
      await sleep(50);
    }
  }
  conn?.close();
}

function readRssKiB(pid: number | null): number | null {
  if (pid === null) return null;
  try { return parseVmRssKiB(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return null; }
}

/**
 * Every node returns the same value for a sample of keys (bounded retries while the last writes
 * settle); otherwise up to 5 differing keys with what each node holds (value length or miss).
 */
async function converged(cluster: ChaosCluster): Promise<{ agree: boolean; differing: string[] }> {
  const keys = Array.from({ length: 50 }, (_, i) => `soak${i * Math.floor(KEYS / 50)}`);
  for (let attempt = 0; attempt < 50; attempt++) {
    const views = await Promise.all(cluster.nodes.map(async (n) => {
      const conn = await TextConnection.open(n.client.port, REQUEST_TIMEOUT_MS, n.client.host);
      try {
        const out: Array<string | null> = [];
        for (const k of keys) out.push(parseValueReply(await conn.request(`get ${k}\r\n`, true, REQUEST_TIMEOUT_MS))?.value ?? null);
        return out;
      } finally { conn.close(); }
    }).map((p) => p.catch(() => null)));
    const differing = keys.filter((_, i) => views.some((v) => v === null || v[i] !== views[0]?.[i]));
    if (differing.length === 0) return { agree: true, differing: [] };
    if (attempt === 49) {
      return { agree: false, differing: differing.slice(0, 5).map((k) => `${k}: ${views.map((v, n) => `node ${n + 1} ${v === null ? 'no answer' : v[keys.indexOf(k)] === null ? 'miss' : `${v[keys.indexOf(k)]!.length} bytes`}`).join(', ')}`) };
    }
    await sleep(200);
  }
  return { agree: false, differing: [] };
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const cluster = await ChaosCluster.create(o.cli, o.nodes, o.fabric, o.freePort, o.daemonArgs);
  const samples: Record<number, RssSample[]> = Object.fromEntries(cluster.nodes.map((n) => [n.id, []]));
  const count: Counts = { ops: 0, failed: 0, errors: new Map() };
  let error: string | null = null;
  let agree = { agree: false, differing: [] as string[] };
  try {
    await Promise.all(cluster.nodes.map((n) => cluster.start(n.id)));
    if ((await cluster.agreedLeader(60_000)) === null) throw new Error(`no leader at start\n${cluster.tails()}`);
    const rng = makeRng(o.seed);
    const t0 = Date.now();
    cluster.clockMs = () => Date.now() - t0;
    const stopped = (): boolean => Date.now() - t0 >= o.durationMs;
    const intervalMs = (1000 * o.clients) / o.opsPerSec;
    const clients = Array.from({ length: o.clients }, (_, c) => soakClient(cluster.nodes[c % cluster.size].client, makeRng(rng.below(2 ** 32)), intervalMs, stopped, count));
    for (let i = 0; i < 1e6 && !stopped(); i++) {
      const elapsedMs = Date.now() - t0;
      const rss = cluster.nodes.map((n) => readRssKiB(cluster.pid(n.id)));
      rss.forEach((kib, i2) => { if (kib !== null) samples[cluster.nodes[i2].id].push({ elapsedMs, rssKiB: kib }); });
      if (rss.some((k) => k === null)) error ??= `a node stopped running at ${(elapsedMs / 1000).toFixed(0)} s\n${cluster.tails()}`;
      o.onSample?.({ elapsedMs, ops: count.ops, rssKiB: rss.map((k) => k ?? 0) });
      await sleep(Math.min(o.sampleMs, Math.max(0, o.durationMs - (Date.now() - t0))));
    }
    await Promise.all(clients);
    agree = await converged(cluster);
  } catch (e) {
    error ??= (e as Error).message;
  } finally {
    await cluster.stopAll();
  }
  const memory = cluster.nodes.map((n) => nodeMemory(n.id, samples[n.id], o.durationMs));
  return {
    seed: o.seed, fabric: o.fabric, nodes: o.nodes, durationMs: o.durationMs, opsPerSec: o.opsPerSec, ops: count.ops, failedOps: count.failed, samples, memory,
    converged: agree.agree, differing: agree.differing, errors: Object.fromEntries(count.errors), error,
    passed: error === null && agree.agree && memory.every((m) => m.passed),
  };
}

const mib = (kib: number): string => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(1)} MiB` : '-');

export function soakText(r: SoakResult): string {
  const w = windows(r.durationMs);
  const s = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
  const lines = [
    `soak: seed ${r.seed}, ${r.nodes}-node ${r.fabric} cluster, ${s(r.durationMs)} of steady load (${r.opsPerSec} requests/s asked, 2 sets : 1 get, values 16-2015 bytes, 5000 keys), no faults`,
    `operations: ${r.ops} done, ${r.failedOps} failed${r.failedOps > 0 ? ` (${Object.entries(r.errors).map(([e, n]) => `${n}x ${e}`).join('; ')})` : ''}`,
    `warm-up 0-${s(w.warmupEndMs)}; level after warm-up = median RSS ${s(w.warmupEndMs)}-${s(w.baselineEndMs)}; last part ${s(w.lastStartMs)}-${s(r.durationMs)}: its median must be within 10%`,
    ['node', 'samples', 'after warm-up', 'last median', 'last max', 'change', 'verdict'].map((c, i) => (i === 0 ? c.padEnd(5) : c.padStart(14))).join(''),
  ];
  for (const m of r.memory) {
    lines.push([String(m.id).padEnd(5), String(m.samples), mib(m.baselineKiB), mib(m.lastMedianKiB), mib(m.lastMaxKiB),
      Number.isFinite(m.changePct) ? `${m.changePct >= 0 ? '+' : ''}${m.changePct.toFixed(1)}%` : '-', m.passed ? 'ok' : 'FAIL'].map((c, i) => (i === 0 ? c : c.padStart(14))).join(''));
  }
  lines.push('RSS samples (MiB, every node, in order):');
  for (const m of r.memory) lines.push(`  node ${m.id}: ${(r.samples[m.id] ?? []).map((x) => (x.rssKiB / 1024).toFixed(0)).join(' ')}`);
  lines.push(`replicas agree on sampled keys: ${r.converged ? 'yes' : `NO: ${r.differing.join('; ')}`}`);
  if (r.error !== null) lines.push(`error: ${r.error}`);
  lines.push(`verdict: ${r.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
