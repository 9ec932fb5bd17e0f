/**
 * memcached's own conformance tool (Debian libmemcached-tools) against mucached: every ascii and
 * binary test must pass, the same count as against real memcached (54 with memcached 1.6.18).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import type { RunningServer } from '../helpers/procs';
import { startReference, startSubject } from '../helpers/target';

jest.setTimeout(120_000);

const EXPECTED_TESTS = 54;
const script = path.join(__dirname, 'memccapable.sh');

interface CapableRun { passed: string[]; failed: string[]; allPassed: boolean; status: number | null; output: string }

function runCapable(port: number): CapableRun {
  const r = spawnSync('memccapable', ['-h', '127.0.0.1', '-p', String(port)], { timeout: 100_000, encoding: 'utf8' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const lines = output.split('\n');
  return {
    passed: lines.filter((l) => /\[pass\]/.test(l)).map((l) => l.replace(/\s+\[pass\].*/, '')),
    failed: lines.filter((l) => /\[fail/i.test(l)),
    allPassed: /All tests passed/.test(output),
    status: r.status,
    output,
  };
}

describe('memccapable', () => {
  let reference: RunningServer | undefined;
  let subject: RunningServer | undefined;
  afterAll(async () => {
    await reference?.stop();
    await subject?.stop();
  });

  test('reports all tests passed against real memcached (the baseline count)', async () => {
    reference = await startReference();
    const run = runCapable(reference.port);
    expect(run.failed).toEqual([]);
    expect(run.passed).toHaveLength(EXPECTED_TESTS);
    expect(run.allPassed).toBe(true);
  });

  test('reports all tests passed against mucached', async () => {
    subject = await startSubject();
    const run = runCapable(subject.port);
    if (!run.allPassed || run.failed.length > 0) throw new Error(`memccapable against mucached:\n${run.output}`);
    expect(run.passed).toHaveLength(EXPECTED_TESTS);
    expect(subject.proc.exitCode).toBeNull();
  });

  test('the shell script agrees (usable by hand: tests/integration/memccapable.sh PORT)', () => {
    const r = spawnSync('sh', [script, String(subject!.port)], { timeout: 110_000, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`memccapable.sh exited ${r.status}:\n${r.stdout}${r.stderr}`);
    expect(r.stdout).toMatch(new RegExp(`memccapable: ${EXPECTED_TESTS} passed, 0 failed, exit 0`));
  });
});
