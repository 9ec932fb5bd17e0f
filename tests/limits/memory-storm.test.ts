/**
 * Memory at -m under a write storm (real daemon, dist/): many clients pipeline sets of large,
 * distinct values far beyond -m for a few seconds. The daemon's RSS (/proc) stays within a
 * generous bound relative to -m, evictions are counted in `stats`, and it answers afterwards.
 * Seeded value sizes; the seed is printed on failure.
 */
import * as net from 'net';
import { exchange } from '../helpers/cluster';
import { RunningServer, startMucached } from '../helpers/procs';
import { Rng } from '../helpers/rng';
import { rssMiB, sleep } from './support';

jest.setTimeout(60_000);

const MEMORY_MIB = 32;
const CLIENTS = 8;
const STORM_MS = 3000;
const BATCH = 4;
const RSS_BOUND_MIB = MEMORY_MIB * 3 + 150;

let daemon: RunningServer;

beforeAll(async () => {
  daemon = await startMucached(['-m', String(MEMORY_MIB), '-I', '1m']);
});

afterAll(async () => {
  await daemon?.stop();
});

/** One client: batches of BATCH pipelined sets, each batch's replies awaited, until the deadline. */
async function stormClient(port: number, id: number, rng: Rng, deadlineMs: number): Promise<{ sentBytes: number; stored: number; other: string[] }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let pending = '';
  let waiter: (() => void) | undefined;
  socket.on('data', (d) => { pending += d.toString('latin1'); waiter?.(); });
  socket.on('error', () => undefined);
  const result = { sentBytes: 0, stored: 0, other: [] as string[] };
  try {
    for (let batch = 0; Date.now() < deadlineMs && batch < 10_000; batch++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < BATCH; i++) {
        const bytes = rng.range(64 * 1024, 1000 * 1024);
        parts.push(Buffer.from(`set storm-${id}-${batch}-${i} 0 0 ${bytes}\r\n`), Buffer.alloc(bytes, 0x30 + (i % 10)), Buffer.from('\r\n'));
        result.sentBytes += bytes;
      }
      socket.write(Buffer.concat(parts));
      const batchDeadline = Date.now() + 20_000;
      while ((pending.match(/\r\n/g) ?? []).length < BATCH && Date.now() < batchDeadline) {
        await new Promise<void>((resolve) => { waiter = resolve; setTimeout(resolve, 200); });
      }
      const replies = pending.split('\r\n').slice(0, BATCH);
      pending = pending.split('\r\n').slice(BATCH).join('\r\n');
      for (const r of replies) if (r === 'STORED') result.stored++; else result.other.push(r);
      if (replies.length < BATCH) break;
    }
  } finally {
    socket.destroy();
  }
  return result;
}

test(`a ${STORM_MS} ms write storm far over -m ${MEMORY_MIB}: RSS stays under ${RSS_BOUND_MIB} MiB, evictions counted, daemon answers`, async () => {
  const seed = Date.now() % 1_000_000;
  const pid = daemon.proc.pid!;
  try {
    let peakMiB = rssMiB(pid);
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling && i < 1000; i++) {
        peakMiB = Math.max(peakMiB, rssMiB(pid));
        await sleep(50);
      }
    })();
    const deadline = Date.now() + STORM_MS;
    const results = await Promise.all(Array.from({ length: CLIENTS }, (_, id) => stormClient(daemon.port, id, new Rng(seed + id), deadline)));
    sampling = false;
    await sampler;
    peakMiB = Math.max(peakMiB, rssMiB(pid));

    const sentMiB = results.reduce((n, r) => n + r.sentBytes, 0) / 1024 / 1024;
    const other = results.flatMap((r) => r.other);
    expect({ other: other.slice(0, 3) }).toEqual({ other: [] });
    // It was a storm: many times -m went through the cache.
    if (process.env.LIMITS_DEBUG) console.log({ peakMiB, sentMiB });
    expect(sentMiB).toBeGreaterThan(MEMORY_MIB * 3);
    expect({ peakMiB: Math.round(peakMiB), sentMiB: Math.round(sentMiB), ok: peakMiB < RSS_BOUND_MIB }).toMatchObject({ ok: true });

    const stats = await exchange(daemon.port, 'stats\r\n', (r) => r.endsWith('END\r\n'));
    const stat = (name: string) => Number(new RegExp(`STAT ${name} (\\d+)`).exec(stats)?.[1]);
    expect(stat('evictions')).toBeGreaterThan(0);
    expect(stat('bytes')).toBeLessThanOrEqual(MEMORY_MIB * 1024 * 1024);
    expect(stat('limit_maxbytes')).toBe(MEMORY_MIB * 1024 * 1024);
    expect(await exchange(daemon.port, 'set after 0 0 2\r\nok\r\nget after\r\n', (r) => r.endsWith('END\r\n'))).toBe('STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n');
  } catch (err) {
    console.log(`memory-storm seed ${seed}`);
    throw err;
  }
});
