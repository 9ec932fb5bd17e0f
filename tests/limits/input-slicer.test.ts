/**
 * The connection's input slicer (pure): whatever way TCP cuts the stream, slices partition each
 * chunk, hold at most SLICE_COMMANDS requests, end on request boundaries unless the chunk ends
 * first, and count every request once. Seeded; the seed is printed on failure.
 */
import { InputSlicer, SLICE_COMMANDS } from '../../daemon/connection';
import { Rng } from '../helpers/rng';

const RUNS = 30;

/** Random cut points: chunks of 1..maxChunk bytes. */
function cut(rng: Rng, stream: Buffer, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < stream.length;) {
    const n = Math.min(stream.length - pos, rng.range(1, maxChunk));
    chunks.push(stream.subarray(pos, pos + n));
    pos += n;
  }
  return chunks;
}

/** Slices every chunk; returns the absolute end offset of each slice and the requests counted. */
function sliceAll(chunks: Buffer[], protocol: 'ascii' | 'binary', maxCommands = SLICE_COMMANDS) {
  const slicer = new InputSlicer(maxCommands);
  const ends: Array<{ end: number; chunkEnd: boolean }> = [];
  let base = 0;
  let counted = 0;
  for (const chunk of chunks) {
    for (let pos = 0, guard = 0; pos < chunk.length; guard++) {
      if (guard > chunk.length) throw new Error('slicer made no progress');
      const end = slicer.next(chunk, pos, protocol);
      // Plain checks: jest's expect per slice would dominate the run time.
      if (!(end > pos && end <= chunk.length)) throw new Error(`slice [${pos}, ${end}) outside a chunk of ${chunk.length}`);
      counted += slicer.lastCommands;
      ends.push({ end: base + end, chunkEnd: end === chunk.length });
      pos = end;
    }
    base += chunk.length;
  }
  return { ends, counted };
}

/** Requests (by their end offsets) inside each slice, at most `max`; inner slice ends sit on a boundary. */
function checkSlices(ends: Array<{ end: number; chunkEnd: boolean }>, boundaries: number[], max: number): void {
  let next = 0; // index of the first boundary after the previous slice
  for (const { end, chunkEnd } of ends) {
    let inside = 0;
    while (next < boundaries.length && boundaries[next] <= end) {
      inside++;
      next++;
    }
    if (inside > max) throw new Error(`slice ending at ${end} holds ${inside} requests (max ${max})`);
    if (!chunkEnd && (boundaries[next - 1] !== end || inside !== max)) {
      throw new Error(`slice ending at ${end} inside a chunk: not after its ${max}th request (holds ${inside})`);
    }
  }
}

test('ASCII: slices end after the n-th newline; nothing is lost or counted twice', () => {
  const seed = Date.now() % 1_000_000;
  try {
    for (let run = 0; run < RUNS; run++) {
      const rng = new Rng(seed + run);
      const lines: string[] = [];
      for (let i = 0; i < rng.range(1, 300); i++) lines.push(rng.pick(['get k', 'set k 0 0 3', 'abc', '', 'gets a b c d', 'x'.repeat(rng.range(0, 3000))]) + rng.pick(['\r\n', '\n']));
      const tail = rng.chance(0.5) ? 'get unfinished' : '';
      const stream = Buffer.from(lines.join('') + tail, 'latin1');
      const boundaries: number[] = [];
      for (let i = stream.indexOf(0x0a); i >= 0; i = stream.indexOf(0x0a, i + 1)) boundaries.push(i + 1);
      const max = rng.pick([1, 2, SLICE_COMMANDS]);
      const { ends, counted } = sliceAll(cut(rng, stream, rng.pick([7, 100, 70_000])), 'ascii', max);
      expect(counted).toBe(boundaries.length);
      expect(ends[ends.length - 1].end).toBe(stream.length);
      checkSlices(ends, boundaries, max);
    }
  } catch (err) {
    console.log(`input-slicer ASCII seed ${seed}`);
    throw err;
  }
});

test('binary: slices follow body lengths across chunk boundaries (headers split anywhere)', () => {
  const seed = Date.now() % 1_000_000;
  try {
    for (let run = 0; run < RUNS; run++) {
      const rng = new Rng(seed + run);
      const frames: Buffer[] = [];
      for (let i = 0; i < rng.range(1, 200); i++) {
        const body = rng.pick([0, 3, 40, rng.range(0, 5000)]);
        const frame = Buffer.alloc(24 + body, rng.int(256));
        frame[0] = 0x80;
        frame.writeUInt32BE(body, 8);
        frames.push(frame);
      }
      const stream = Buffer.concat(frames);
      const boundaries: number[] = [];
      let at = 0;
      for (const f of frames) boundaries.push((at += f.length));
      const max = rng.pick([1, 3, SLICE_COMMANDS]);
      const { ends, counted } = sliceAll(cut(rng, stream, rng.pick([2, 11, 25, 500, 70_000])), 'binary', max);
      expect(counted).toBe(frames.length);
      checkSlices(ends, boundaries, max);
    }
  } catch (err) {
    console.log(`input-slicer binary seed ${seed}`);
    throw err;
  }
});

test('binary: a body length announced far beyond the chunk makes the rest of the chunk one slice', () => {
  const slicer = new InputSlicer(SLICE_COMMANDS);
  const head = Buffer.alloc(24);
  head[0] = 0x80;
  head.writeUInt32BE(0xffffffff, 8);
  const chunk = Buffer.concat([head, Buffer.alloc(1000)]);
  expect(slicer.next(chunk, 0, 'binary')).toBe(chunk.length);
  expect(slicer.lastCommands).toBe(1);
  expect(slicer.next(Buffer.alloc(5000), 0, 'binary')).toBe(5000);
  expect(slicer.lastCommands).toBe(0);
});
