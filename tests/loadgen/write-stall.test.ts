/**
 * write-stall (dist/loadgen/write-stall.js, `npm run build` first): a real 3-node tcp cluster per
 * round, writes through a follower, the leader SIGKILLed; the tool reports how long they stalled.
 * Only that it measures and that writes came back is asserted here: the figure itself is for
 * benchmarks, not tests (this machine is shared and noisy).
 */
import * as path from 'path';
import { repoRoot, runScript, ScriptRun } from '../helpers/procs';

jest.setTimeout(120_000);

const tool = path.join(repoRoot, 'dist', 'loadgen', 'write-stall.js');

function run(args: string[]): Promise<ScriptRun> {
  return runScript(tool, args, { timeoutMs: 100_000 });
}

test('--help describes the tool; bad options are refused', async () => {
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/writes through a follower stall when the leader/);
  expect(help.stdout).toMatch(/--no-herald/);
  const bad = await run(['--rounds', '0']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/--rounds takes 1\.\.1000/);
});

test('one kill of a tcp leader: writes through a follower stall, then come back; the figures are reported', async () => {
  const ran = await run(['--rounds', '1', '--fill-mb', '5', '--json']);
  expect(ran.stderr).toBe('');
  expect(ran.code).toBe(0);
  const result = JSON.parse(ran.stdout.trim().split('\n').pop()!);
  expect(result).toEqual(expect.objectContaining({ tool: 'write-stall', fabric: 'tcp', herald: true, fillMb: 5, rounds: 1 }));
  expect(result.allStallMs).toHaveLength(1);
  expect(result.medianStallMs).toBeGreaterThan(0);
  expect(result.leaderRssMb[0]).toBeGreaterThan(0);
});
