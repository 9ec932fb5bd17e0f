/**
 * Memory soak of the three parsers, run as its own process (tests/fuzz/parser-memory.test.ts):
 *   node --expose-gc -r ./tests/fuzz/ts-register.js tests/fuzz/memory-soak.ts <seed> <iterations>
 * A pool of valid and noisy inputs comes from the fast-check generators; each iteration mutates one
 * (seeded Rng), cuts it into chunks and feeds it to a parser that lives for a random number of
 * inputs, like a connection. Every push is checked by drive.ts. After each quarter of the run the
 * heap is measured after a forced GC; the last line of stdout is a JSON report:
 *   { seed, iterations, quarters: [{ heapUsedBytes, arrayBuffersBytes }, ...4], commands }
 * Exit 1 (with the seed on stderr) if an invariant breaks.
 */
import * as fc from 'fast-check';
import { Rng } from '../helpers/rng';
import { driveAscii, driveBinary, newAsciiParser, newBinaryParser } from './drive';
import { asciiNoiseArb, asciiStreamArb, longLineArb } from './gen-ascii';
import { binaryStreamArb } from './gen-binary';
import { applyMutations, randomMutation } from './mutate';

const POOL_SIZE = 600;

interface Lane {
  pool: Buffer[];
  feed(chunks: Buffer[]): number;
  fresh(): void;
}

function chunksOf(rng: Rng, input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (let i = 0; pos < input.length && i < 64; i++) {
    const n = i === 63 ? input.length - pos : rng.range(1, Math.max(1, input.length - pos));
    out.push(input.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

function lanes(seed: number): Lane[] {
  let ascii = newAsciiParser();
  let binary = newBinaryParser();
  const sample = (arb: fc.Arbitrary<Buffer>, n: number, salt: number) => fc.sample(arb, { seed: (seed + salt) >>> 0, numRuns: n });
  return [
    {
      pool: [...sample(asciiStreamArb, POOL_SIZE, 1), ...sample(asciiNoiseArb, POOL_SIZE / 4, 2), ...sample(longLineArb, POOL_SIZE / 20, 3)],
      feed: (chunks) => {
        const d = driveAscii(chunks, ascii);
        if (d.closed) ascii = newAsciiParser();
        return d.commands.length;
      },
      fresh: () => { ascii = newAsciiParser(); },
    },
    {
      pool: sample(binaryStreamArb, POOL_SIZE, 4),
      feed: (chunks) => {
        const d = driveBinary(chunks, binary);
        if (d.closed) binary = newBinaryParser();
        return d.commands.length;
      },
      fresh: () => { binary = newBinaryParser(); },
    },
  ];
}

function measure(): { heapUsedBytes: number; arrayBuffersBytes: number } {
  const gc = (global as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heapUsedBytes: m.heapUsed, arrayBuffersBytes: m.arrayBuffers };
}

function main(): void {
  const seed = Number(process.argv[2] ?? Date.now() >>> 0) >>> 0;
  const iterations = Number(process.argv[3] ?? 200_000);
  const rng = new Rng(seed);
  const all = lanes(seed);
  const quarters: Array<ReturnType<typeof measure>> = [];
  let commands = 0;
  let lane = 0;
  let connectionLeft = 0;
  try {
    for (let i = 0; i < iterations; i++) {
      if (connectionLeft === 0) {
        lane = rng.int(all.length);
        all[lane].fresh();
        connectionLeft = rng.range(1, 50);
      }
      connectionLeft--;
      const { pool } = all[lane];
      const base = pool[rng.int(pool.length)];
      const mutations = Array.from({ length: rng.range(0, 4) }, () => randomMutation(rng));
      commands += all[lane].feed(chunksOf(rng, applyMutations(base, mutations)));
      if ((i + 1) % Math.ceil(iterations / 4) === 0 || i + 1 === iterations) {
        if (quarters.length < 4) quarters.push(measure());
      }
    }
  } catch (err) {
    process.stderr.write(`memory soak seed ${seed}: ${(err as Error).stack}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ seed, iterations, quarters, commands })}\n`);
}

main();
