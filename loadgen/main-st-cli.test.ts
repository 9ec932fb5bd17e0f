/**
 * main-st / main-st-lat command lines, and one whole local group run of each over shm
 * (dist/ must be built: npx tsc -p tsconfig.json; the native addon: npm run build:native).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseMainStArgs, parsePeers, percentile } from './main-st-common';
import { repoRoot, runScript, ScriptRun } from '../tests/helpers/procs';

describe('command line', () => {
  test('the old positional form with a config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'main-st-args-'));
    try {
      const cfg = path.join(dir, 'config.txt');
      fs.writeFileSync(cfg, '# members\n1=10.30.2.1\n2=10.30.2.2:12000\n3=10.30.2.3\n');
      const a = parseMainStArgs('main-st', ['2', '4096', '1', '--config', cfg, '--fabric', 'tcp']);
      expect(a).toMatchObject({ processId: 2, payloadBytes: 4096, outstanding: 1, local: null, fabric: 'tcp', count: 1_000_000 });
      expect(a.members).toEqual([
        { peerId: 1, host: '10.30.2.1', port: 11311 },
        { peerId: 2, host: '10.30.2.2', port: 12000 },
        { peerId: 3, host: '10.30.2.3', port: 11311 },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--local takes the payload size and outstanding count, with or without a process id', () => {
    expect(parseMainStArgs('main-st-lat', ['--local', '3', '64', '8'])).toMatchObject({ local: 3, processId: null, payloadBytes: 64, outstanding: 8, count: 100_000 });
    expect(parseMainStArgs('main-st', ['1', '64', '8', '--local', '3'])).toMatchObject({ local: 3, payloadBytes: 64, outstanding: 8 });
  });

  test('bad input is refused with a message', () => {
    expect(() => parseMainStArgs('main-st', ['1', '64'])).toThrow(/process_id/);
    expect(() => parseMainStArgs('main-st', ['--local', '3', '0', '1'])).toThrow(/payload_size/);
    expect(() => parseMainStArgs('main-st', ['4', '64', '1', '--peers', '1=a,2=b,3=c'])).toThrow(/not a member/);
    expect(() => parsePeers('1=a,1=b', 'tcp')).toThrow(/duplicate/);
    expect(() => parsePeers('x=a', 'tcp')).toThrow(/bad member/);
  });

  test('percentile by nearest rank', () => {
    const v = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([percentile(v, 50), percentile(v, 90), percentile(v, 99), percentile(v, 100)]).toEqual([5, 9, 10, 10]);
  });
});

function run(tool: string, args: string[], cwd: string): Promise<ScriptRun> {
  return runScript(path.join(repoRoot, 'dist', 'loadgen', `${tool}.js`), args, { cwd, timeoutMs: 90_000 });
}

// A slow failure detector: the point here is the tools, not fail-over on a shared machine.
const calm = ['--scan-ms', '5', '--warmup', '2000'];

test('main-st --local 3 replicates and reports in the old format', async () => {
  const r = await run('main-st', ['--local', '3', '64', '16', '--count', '20000', ...calm], os.tmpdir());
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^Replicated 20000 commands of size 64 bytes in \d+ ns\n\d+ ops\/s\n$/);
  expect(r.stderr).toMatch(/\[node [23]\] Reading pump started/);
}, 120_000);

test('main-st-lat --local 3 --json writes dump-st-<size>-<outstanding>.txt, one latency per line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'main-st-lat-'));
  try {
    const r = await run('main-st-lat', ['--local', '3', '32', '1', '--count', '5000', '--json', '--out-dir', dir, ...calm], dir);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(r.stdout.trim());
    expect(result).toMatchObject({ tool: 'main-st-lat', fabric: 'shm', payloadBytes: 32, outstanding: 1, count: 5000 });
    const lines = fs.readFileSync(path.join(dir, 'dump-st-32-1.txt'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines.every((l) => /^\d+$/.test(l) && Number(l) > 0)).toBe(true);
    expect(result.latencyNs.p50).toBeLessThanOrEqual(result.latencyNs.p99);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

test('main-st-failover --json: every kill of a streaming leader is followed by a new leader\'s commit, phases in order', async () => {
  // A second of streaming before each kill: the members' state (--quiet: a count) must not grow
  // into state transfers that the measurement would time instead of the take-over.
  const r = await run('main-st-failover', ['--fabric', 'shm', '--rounds', '2', '--steady-ms', '1000', '--json'], os.tmpdir());
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(result).toMatchObject({ tool: 'main-st-failover', fabric: 'shm', nodes: 3, rounds: 2, steadyMs: 1000 });
  expect(result.allMs).toHaveLength(2);
  expect(result.allMs.every((ms: number) => ms > 0)).toBe(true);
  const phases = ['lost', 'stand', 'granted', 'read', 'adopt', 'leader', 'synced', 'commit'].map((p) => result.phaseMediansMs[p]);
  expect(phases.every((ms) => typeof ms === 'number' && ms > 0)).toBe(true);
  for (let k = 1; k < phases.length; k++) expect(phases[k]).toBeGreaterThanOrEqual(phases[k - 1]);
}, 120_000);
