/**
 * The differential runner's rule for several references, shown with real memcached processes
 * made to disagree through their item size limit (-I): a reference that disagrees with another
 * reference is dropped when the subject agrees with some reference, and the run fails when the
 * subject agrees with none.
 */
import { runDifferential } from '../helpers/diffRunner';
import type { Step } from '../helpers/diffGen';
import { RunningServer, startMemcached } from '../helpers/procs';

jest.setTimeout(30_000);

/** Items up to 4 KiB (memcached wants its chunk limit below the item limit). */
const SMALL_ITEMS = ['-I', '4k', '-o', 'slab_chunk_max=2048'];

function textStep(index: number, line: string): Step {
  return { index, conn: 0, proto: 'text', cmds: [{ build: () => Buffer.from(line) }], cuts: [], what: 'text' };
}

/** A set of `valueBytes` bytes, then a get of the same key. */
function setThenGet(valueBytes: number): Step[] {
  return [
    textStep(0, `set big 0 0 ${valueBytes}\r\n${'v'.repeat(valueBytes)}\r\n`),
    textStep(1, 'get big\r\n'),
    textStep(2, 'delete big\r\n'),
  ];
}

describe('differential runner with several references', () => {
  const servers: RunningServer[] = [];
  const start = async (args: string[]) => {
    const s = await startMemcached(args);
    servers.push(s);
    return { name: `memcached ${args.join(' ') || '(defaults)'}`, port: s.port };
  };
  const opts = () => ({ seed: 1, stepTimeoutMs: 3000, strictCas: false, deadlineMs: Date.now() + 20_000 });

  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  test('a reference that disagrees with another is dropped; the subject agreed with the rest', async () => {
    const plain = await start([]);
    const small = await start(SMALL_ITEMS);
    const subject = await start(['-I', '2m']);
    const out = await runDifferential(setThenGet(6000), [small, plain], subject, opts());
    expect(out.mismatch).toBeUndefined();
    expect(out.stepsRun).toBe(3);
    expect(out.droppedReferences).toHaveLength(1);
    expect(out.droppedReferences[0]).toMatch(/^memcached -I 4k .* dropped at step 0 \(bytes differ/);
    expect(out.droppedReferences[0]).toContain('SERVER_ERROR object too large for cache');
  });

  test('the subject fails when it agrees with no reference', async () => {
    const plain = await start([]);
    const other = await start(['-I', '2m']);
    const subject = await start(SMALL_ITEMS);
    const out = await runDifferential(setThenGet(6000), [plain, other], subject, opts());
    expect(out.mismatch).toMatch(/DIFFERENTIAL MISMATCH .* at step 0/);
    expect(out.droppedReferences).toHaveLength(0);
    expect(out.stepsRun).toBe(0);
  });

  test('with one reference left, a later disagreement fails the run', async () => {
    const plain = await start([]);
    const small = await start(SMALL_ITEMS);
    const subject = await start(['-I', '2m']);
    // Step 0..2 drop the small reference; steps 3.. then differ between subject (-I 2m) and plain (1m).
    const steps = [...setThenGet(6000), ...setThenGet(1_500_000).map((s, i) => ({ ...s, index: 3 + i }))];
    const out = await runDifferential(steps, [plain, small], subject, opts());
    expect(out.droppedReferences).toHaveLength(1);
    expect(out.mismatch).toMatch(/at step 3/);
  });
});
