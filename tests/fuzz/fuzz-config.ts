/**
 * Seeds and run counts for the fast-check fuzz tests. Every property runs from one seed, printed
 * when it fails together with the command that replays it:
 *   FUZZ_SEED=<seed> npx jest tests/fuzz/<file>.test.ts
 * FUZZ_RUNS_SCALE=<factor> multiplies every run count (longer soaks by hand; CI uses 1).
 */
import * as fc from 'fast-check';
import { seedFromEnv } from '../helpers/rng';

export const FUZZ_SEED = seedFromEnv('FUZZ_SEED');

export function runs(base: number): number {
  const raw = process.env.FUZZ_RUNS_SCALE;
  const scale = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!(scale > 0)) throw new Error(`FUZZ_RUNS_SCALE=${raw}: want a positive number`);
  return Math.max(1, Math.round(base * scale));
}

function replayHint(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${message}\nfuzz seed ${FUZZ_SEED}: replay with FUZZ_SEED=${FUZZ_SEED}`);
}

/** fc.assert from the shared seed; a failure says how to replay it. */
export function check<Ts>(property: fc.IProperty<Ts>, numRuns: number): void {
  try {
    fc.assert(property, { seed: FUZZ_SEED, numRuns: runs(numRuns), endOnFailure: false });
  } catch (err) {
    throw replayHint(err);
  }
}

export async function checkAsync<Ts>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property, { seed: FUZZ_SEED, numRuns: runs(numRuns), endOnFailure: false });
  } catch (err) {
    throw replayHint(err);
  }
}
