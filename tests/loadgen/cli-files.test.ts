/**
 * The compiled commands (dist/, `npm run build` first): the old positional form, the files they
 * write (memcached-cli.txt: one latency in ns per line; memcached-cli.hgrm: HdrHistogram's
 * percentile distribution), --json, exit statuses, and the bench's short run.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot, RunningServer, runScript, ScriptRun } from '../helpers/procs';
import { TEST_SEED, memcachedAsUs } from './support';

const dist = path.join(repoRoot, 'dist', 'loadgen');
let server: RunningServer;
let workDir: string;

function runNode(script: string, args: string[], timeoutMs = 30_000): Promise<ScriptRun> {
  return runScript(path.join(dist, script), args, { cwd: workDir, timeoutMs });
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(dist, 'memcached-puts-only.js'))) throw new Error(`${dist} is missing: run \`npm run build\` first`);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadgen-test-'));
  server = await memcachedAsUs();
});
afterAll(async () => {
  await server?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test.each(['puts-only', 'gets-only', 'puts-gets'])('memcached-%s <key_size> <value_size> <host> <port> writes memcached-cli.txt and .hgrm', async (mode) => {
  const out = path.join(workDir, mode);
  const r = await runNode(`memcached-${mode}.js`, ['16', '32', '127.0.0.1', String(server.port), '-n', '1500', '-c', '3', '-P', '2', '--seed', String(TEST_SEED), '--out-dir', out]);
  expect(r.stderr).toBe(''); // not a TTY: no progress bar
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/requests 1500, replies 1500/);
  expect(r.stdout).toMatch(/p50 [0-9.]+ +p90 [0-9.]+ +p99 [0-9.]+ +p99\.9 [0-9.]+ +max [0-9.]+/);
  expect(r.stdout).toMatch(/errors: none/);

  const lines = fs.readFileSync(path.join(out, 'memcached-cli.txt'), 'utf8').split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(1500);
  for (const l of lines) expect(l).toMatch(/^[1-9][0-9]*$/);
  // Loopback round trips: more than 1 us, less than the 5 s timeout.
  const ns = lines.map(Number);
  expect(Math.min(...ns)).toBeGreaterThan(1000);
  expect(Math.max(...ns)).toBeLessThan(5e9);

  const hgrm = fs.readFileSync(path.join(out, 'memcached-cli.hgrm'), 'utf8').split('\n');
  expect(hgrm[0].trim().split(/\s+/)).toEqual(['Value', 'Percentile', 'TotalCount', '1/(1-Percentile)']);
  const rows = hgrm.filter((l) => /^\s+[0-9.]+\s+[0-9.]+\s+[0-9]+/.test(l)).map((l) => l.trim().split(/\s+/).map(Number));
  expect(rows.length).toBeGreaterThan(5);
  expect(rows[rows.length - 1][1]).toBe(1);
  expect(rows[rows.length - 1][2]).toBe(1500);
  for (let i = 1; i < rows.length; i++) expect(rows[i][0]).toBeGreaterThanOrEqual(rows[i - 1][0]);
  expect(hgrm.some((l) => /^#\[Mean\s+=\s+[0-9.]+, StdDeviation\s+=\s+[0-9.]+\]$/.test(l))).toBe(true);
  expect(hgrm.some((l) => /^#\[Max\s+=\s+[0-9.]+, Total count\s+=\s+1500\]$/.test(l))).toBe(true);
  // The .hgrm is in microseconds, the .txt in nanoseconds: same max.
  expect(Math.abs(rows[rows.length - 1][0] * 1000 - Math.max(...ns)) / Math.max(...ns)).toBeLessThan(0.01);
});

test('--json prints one JSON summary with latencies in ns', async () => {
  const r = await runNode('memcached-gets-only.js', ['10', '64', '127.0.0.1', String(server.port), '-n', '800', '-c', '2', '--protocol', 'binary', '--json', '--no-files']);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j).toMatchObject({ client: 'memcached-gets-only', requests: 800, replies: 800, hits: 800, misses: 0, errorTotal: 0, files: [] });
  for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) expect(j.latencyNs[k]).toBeGreaterThan(0);
  expect(j.throughputPerSec).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(workDir, 'memcached-cli.txt'))).toBe(false);
});

test('--threads 2 splits the connections and merges counts, histogram and raw latencies', async () => {
  const out = path.join(workDir, 'threads');
  const gets = await runNode('memcached-gets-only.js', ['12', '48', '127.0.0.1', String(server.port), '-n', '3001', '-c', '5', '--threads', '2', '--keys', '333', '--json', '--out-dir', out]);
  expect(gets.code).toBe(0);
  const j = JSON.parse(gets.stdout);
  expect(j).toMatchObject({ requests: 3001, replies: 3001, hits: 3001, misses: 0, errorTotal: 0, preloadErrors: {} });
  expect(j.latencyNs.count).toBe(3001);
  const lines = fs.readFileSync(path.join(out, 'memcached-cli.txt'), 'utf8').trim().split('\n');
  expect(lines).toHaveLength(3001);
  const rate = await runNode('memcached-puts-only.js', ['12', '48', '127.0.0.1', String(server.port), '-n', '600', '-c', '4', '--threads', '2', '--rate', '2000', '--json', '--no-files']);
  expect(rate.code).toBe(0);
  expect(JSON.parse(rate.stdout)).toMatchObject({ requests: 600, replies: 600, stored: 600, errorTotal: 0 });
  const tooMany = await runNode('memcached-puts-only.js', ['12', '48', '127.0.0.1', String(server.port), '-c', '1', '--threads', '2', '--no-files']);
  expect(tooMany.code).toBe(1);
  expect(tooMany.stderr).toMatch(/--threads 2 needs at least as many --connections/);
});

test('bad arguments exit 1 with a message', async () => {
  const missing = await runNode('memcached-puts-only.js', ['16', '32', '127.0.0.1']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/arguments/);
  const badKey = await runNode('memcached-puts-only.js', ['300', '32', '127.0.0.1', String(server.port), '--no-files']);
  expect(badKey.code).toBe(1);
  expect(badKey.stderr).toMatch(/key size/);
  const badProto = await runNode('memcached-puts-only.js', ['16', '32', '127.0.0.1', String(server.port), '--protocol', 'udp']);
  expect(badProto.code).toBe(1);
});

test('errors make the exit status 2 and are printed by kind', async () => {
  // 2 MB values exceed memcached's 1 MB item limit: every set gets SERVER_ERROR.
  const r = await runNode('memcached-puts-only.js', ['16', String(2 * 1024 * 1024), '127.0.0.1', String(server.port), '-n', '5', '--no-files']);
  expect(r.code).toBe(2);
  expect(r.stdout).toMatch(/errors: server_error=5/);
});

test('bench --cluster and loadgen compare refuse unknown fabrics and systems before starting anything', async () => {
  const cluster = await runNode('bench.js', ['--cluster', 'rdma']);
  expect(cluster.code).toBe(1);
  expect(cluster.stderr).toMatch(/unknown cluster fabric 'rdma' \(choose from shm, tcp\)/);
  const compare = await runNode('loadgen.js', ['compare', '--systems', 'memcached,redis']);
  expect(compare.code).toBe(1);
  expect(compare.stderr).toMatch(/^compare: unknown system 'redis'/);
  expect(cluster.stderr + compare.stderr).not.toMatch(/started/);
});

test('bench against memcached alone: JSON medians, ratios and the memcslap check', async () => {
  const r = await runNode('bench.js', ['--systems', 'memcached', '--workloads', 'puts-only', '--reps', '3', '--duration', '0.2', '--warmup', '0',
    '--connections', '4', '--memcslap-per-thread', '300', '--json', '--seed', String(TEST_SEED), '--report-dir', path.join(workDir, 'report')], 60_000);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.rows).toHaveLength(1);
  expect(j.rows[0]).toMatchObject({ workload: 'puts-only', system: 'memcached', runs: 3, errors: 0, throughputRatio: 1, p50Ratio: 1 });
  expect(j.memcslap.map((m: { test: string }) => m.test)).toEqual(['set', 'get']);
  expect(j.cpu).toHaveLength(1);
  expect(j.cpu[0]).toMatchObject({ workload: 'puts-only', system: 'memcached', othersUs: 0, totalRatio: 1 });
  expect(j.cpu[0].servedUs).toBeGreaterThan(0);
  for (const m of j.memcslap) {
    expect(m.memcslapPerSec).toBeGreaterThan(0);
    expect(m.loadgenPerSec).toBeGreaterThan(0);
  }
  const md = fs.readFileSync(path.join(workDir, 'report', 'bench.md'), 'utf8');
  expect(md).toMatch(/\| puts-only \| memcached \| 3 \| \d+ \|/);
  expect(md).toContain('![puts-only latency by percentile](bench-puts-only.svg)');
  const svg = fs.readFileSync(path.join(workDir, 'report', 'bench-puts-only.svg'), 'utf8');
  expect(svg.match(/<path /g)).toHaveLength(1);
  expect(JSON.parse(fs.readFileSync(path.join(workDir, 'report', 'bench.json'), 'utf8')).rows).toHaveLength(1);
}, 60_000);
