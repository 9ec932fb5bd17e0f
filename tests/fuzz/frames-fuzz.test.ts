/**
 * The tcp fabric's frame decoder (binding/src/tcp_frames.cc) under the C++ fuzz driver
 * binding/test/frames_fuzz_test.cc. The driver is compiled here with the system C++ compiler,
 * with AddressSanitizer and UBSan when the compiler supports them (so an out-of-bounds read is a
 * crash, not a silent pass), into a temporary directory: it stays out of the addon's build.
 * Replay a failure with FUZZ_SEED=<printed seed>.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../helpers/procs';
import { seedFromEnv } from '../helpers/rng';

const binding = path.join(repoRoot, 'binding');
const sources = ['test/frames_fuzz_test.cc', 'src/tcp_frames.cc', 'src/sha256.cc', 'src/names.cc'].map((s) => path.join(binding, s));
const SANITIZERS = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
const ITERATIONS = 1_000_000;
const MAX_SECONDS = 12;

function compile(outFile: string, sanitize: boolean): { ok: boolean; output: string } {
  const cxx = process.env.CXX || 'g++';
  const args = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-UNDEBUG', `-I${path.join(binding, 'src')}`, ...(sanitize ? SANITIZERS : []), ...sources, '-o', outFile];
  const run = spawnSync(cxx, args, { encoding: 'utf8', timeout: 120_000 });
  return { ok: run.status === 0, output: `${cxx} ${args.join(' ')}\n${run.error ?? ''}${run.stdout}${run.stderr}` };
}

describe('tcp fabric frame decoder: fuzzed', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-frames-fuzz-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('random and mutated frames: no out-of-bounds read, sound verdicts, exact re-encoding', () => {
    const binary = path.join(dir, 'frames_fuzz_test');
    let built = compile(binary, true);
    const sanitized = built.ok;
    if (!sanitized) {
      // Some toolchains ship without the sanitizer runtimes: the checks still run, unsanitized.
      console.warn(`frames fuzz: building without sanitizers (the sanitized build failed):\n${built.output.slice(-2000)}`);
      built = compile(binary, false);
    }
    if (!built.ok) throw new Error(`cannot build the frames fuzz driver:\n${built.output}`);

    const seed = seedFromEnv('FUZZ_SEED');
    const fuzz = (detectLeaks: boolean) => spawnSync(binary, [String(seed), String(ITERATIONS), String(MAX_SECONDS)], {
      encoding: 'utf8', timeout: (MAX_SECONDS + 30) * 1000, env: { ...process.env, ASAN_OPTIONS: `detect_leaks=${detectLeaks ? 1 : 0}` },
    });
    let run = fuzz(true);
    // LeakSanitizer needs ptrace, which some sandboxes forbid: then run without leak checking.
    if (run.status !== 0 && /LeakSanitizer has encountered a fatal error/.test(run.stderr)) run = fuzz(false);
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0) {
      throw new Error(`frames_fuzz_test failed (status ${run.status}, signal ${run.signal}, sanitized ${sanitized}); replay with FUZZ_SEED=${seed}:\n${output.slice(-6000)}`);
    }
    expect(run.stdout).toContain(`seed ${seed}`);
    expect(run.stdout).toMatch(/^\d+ checks, 0 failed$/m);
    // The run reached every verdict.
    const counts = /^(\d+) iterations: (\d+) need-more, (\d+) ok, (\d+) malformed$/m.exec(run.stdout);
    expect(counts).not.toBeNull();
    const [iterations, needMore, ok, malformed] = counts!.slice(1).map(Number);
    expect(iterations).toBeGreaterThanOrEqual(1024); // the driver looks at the clock every 1024 iterations
    expect(needMore).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(0);
    expect(malformed).toBeGreaterThan(0);
  }, 180_000);
});
