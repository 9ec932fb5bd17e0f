/**
 * Replication under a write storm (3-node shm cluster of real processes): clients on every node
 * pipeline hundreds of sets each without waiting. Each connection stops reading while 256 replies
 * are pending (the storm is sized past that), the leader's memory stays bounded, and every
 * acknowledged write reads back, with its value, on every node. Seeded value sizes; the seed is
 * printed on failure.
 *
 * The default storm is sized so that a stable group on a shared 2-core machine is the norm. A
 * heavier one (STORM_CLIENTS=4 STORM_SETS=400 STORM_MAX_VALUE=16384) starves the nodes into
 * repeated fail-overs; on HEAD (with or without the limits work) it then shows mu-core/replica
 * faults: a follower exits on "corrupt effect entry", or loops on snapshot transfers and never
 * serves acknowledged writes (see the limits report).
 */
import * as net from 'net';
import { exchange, makeCluster, TestCluster, waitForLeader } from '../helpers/cluster';
import { Rng } from '../helpers/rng';
import { rssMiB, sleep } from './support';

jest.setTimeout(120_000);
// Whole clusters on a shared 2-core machine: a run starved long enough to miss an election is
// retried (the first failure is still printed), as the other cluster tests do.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

const MEMORY_MIB = 64;
const CLIENTS_PER_NODE = Number(process.env.STORM_CLIENTS ?? 2);
const SETS_PER_CLIENT = Number(process.env.STORM_SETS ?? 300);
const MAX_VALUE_BYTES = Number(process.env.STORM_MAX_VALUE ?? 4096);
const RSS_BOUND_MIB = MEMORY_MIB * 3 + 150;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await makeCluster(3, 'shm', ['-I', '64k', '-m', String(MEMORY_MIB)]);
  await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
});

afterAll(async () => {
  await cluster?.stopAll();
});

const port = (id: number) => cluster.nodes[id - 1].clientPort;
const valueOf = (key: string, bytes: number) => (key + ':').padEnd(bytes, key[key.length - 1]).slice(0, bytes);

/** Sends all its sets at once, then reads the replies in order: STORED ones are acknowledged. */
async function pipeliningClient(nodePort: number, name: string, rng: Rng, timeoutMs: number): Promise<{ acked: Map<string, string>; other: string[] }> {
  const sets: Array<[string, string]> = [];
  for (let i = 0; i < SETS_PER_CLIENT; i++) {
    const key = `storm-${name}-${i}`;
    sets.push([key, valueOf(key, rng.range(16, MAX_VALUE_BYTES))]);
  }
  const socket = net.connect(nodePort, '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if ((text.match(/\r\n/g) ?? []).length >= sets.length) { clearTimeout(timer); resolve(); }
    });
    socket.on('close', () => { clearTimeout(timer); resolve(); });
  });
  socket.write(sets.map(([k, v]) => `set ${k} 0 0 ${v.length}\r\n${v}\r\n`).join(''));
  await done;
  socket.destroy();
  const replies = text.split('\r\n');
  const acked = new Map<string, string>();
  const other: string[] = [];
  sets.forEach(([k, v], i) => {
    if (replies[i] === 'STORED') acked.set(k, v);
    else other.push(`${k}: ${replies[i] ?? '(no reply)'}`);
  });
  return { acked, other };
}

/** Multi-get `keys` on a node; the values it returned, by key. */
function multiGet(nodePort: number, keys: string[]): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(nodePort, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`multi-get on :${nodePort} timed out`)); }, 10_000);
    socket.on('connect', () => socket.write(`get ${keys.join(' ')}\r\n`));
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (!text.endsWith('END\r\n')) return;
      const found = new Map<string, string>();
      for (let pos = 0; text.startsWith('VALUE ', pos);) {
        const eol = text.indexOf('\r\n', pos);
        const [, key, , bytes] = text.slice(pos, eol).split(' ');
        found.set(key, text.slice(eol + 2, eol + 2 + Number(bytes)));
        pos = eol + 2 + Number(bytes) + 2;
      }
      clearTimeout(timer);
      socket.destroy();
      resolve(found);
    });
  });
}

/** Keys whose value on `nodePort` is not the acknowledged one (bounded retries for follower lag). */
async function missingOn(nodePort: number, acked: Map<string, string>): Promise<string[]> {
  let missing = [...acked.keys()];
  for (let attempt = 0; attempt < 50 && missing.length > 0; attempt++) {
    const still: string[] = [];
    for (let i = 0; i < missing.length; i += 100) {
      const batch = missing.slice(i, i + 100);
      const found = await multiGet(nodePort, batch);
      for (const k of batch) if (found.get(k) !== acked.get(k)) still.push(k);
    }
    missing = still;
    if (missing.length > 0) await sleep(100);
  }
  return missing;
}

test('a pipelined write storm on every node: leader RSS bounded, every acknowledged write on every node', async () => {
  const seed = Date.now() % 1_000_000;
  try {
    // A retried attempt starts from a whole group again.
    for (const n of cluster.nodes) if (!n.proc || n.proc.exitCode !== null || n.proc.signalCode !== null) await cluster.start(n.id);
    const leader = await waitForLeader(cluster);
    const leaderPid = cluster.nodes[leader - 1].proc!.pid!;
    let peakMiB = rssMiB(leaderPid);
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling && i < 2000; i++) {
        peakMiB = Math.max(peakMiB, rssMiB(leaderPid));
        await sleep(50);
      }
    })();
    const clients = [];
    for (const id of [1, 2, 3]) {
      for (let c = 0; c < CLIENTS_PER_NODE; c++) clients.push(pipeliningClient(port(id), `n${id}c${c}`, new Rng(seed + id * 100 + c), 60_000));
    }
    const results = await Promise.all(clients);
    sampling = false;
    await sampler;

    const acked = new Map<string, string>();
    for (const r of results) for (const [k, v] of r.acked) acked.set(k, v);
    const other = results.flatMap((r) => r.other);
    // Every write is answered: stored, or refused with a SERVER_ERROR when a starved leader lost
    // its leadership mid-storm (not acknowledged: it may or may not be there). Pushback only delays.
    const unexpected = other.filter((line) => !/: SERVER_ERROR (lost leadership|not the leader|no leader)/.test(line));
    expect({ unexpected: unexpected.slice(0, 5) }).toEqual({ unexpected: [] });
    expect(acked.size).toBeGreaterThan(3 * CLIENTS_PER_NODE * SETS_PER_CLIENT / 2);
    for (const n of cluster.nodes) expect({ node: n.id, exit: n.proc?.exitCode ?? n.proc?.signalCode ?? null }).toEqual({ node: n.id, exit: null });
    for (const id of [1, 2, 3]) {
      const missing = await missingOn(port(id), acked);
      const stats = await exchange(port(id), 'stats\r\n', (r) => r.endsWith('END\r\n'));
      const evictions = Number(/STAT evictions (\d+)/.exec(stats)?.[1]);
      const sample = missing.length > 0 ? await multiGet(port(id), missing.slice(0, 1)) : new Map();
      expect({ node: id, evictions, missing: missing.length, first: missing.slice(0, 3), got: [...sample.values()].map((v) => v.slice(0, 40)) })
        .toEqual({ node: id, evictions: 0, missing: 0, first: [], got: [] });
    }
    expect({ leaderPeakMiB: Math.round(peakMiB), ok: peakMiB < RSS_BOUND_MIB }).toMatchObject({ ok: true });
    if (process.env.LIMITS_DEBUG) console.log({ leaderPeakMiB: peakMiB, acked: acked.size });
  } catch (err) {
    console.log(`cluster-storm seed ${seed}\n${cluster.nodes.map((n) => `--- node ${n.id} (exit ${n.proc?.exitCode ?? n.proc?.signalCode ?? 'running'})\n${n.output.slice(-2500)}`).join('\n')}`);
    throw err;
  }
});
