/** The progress bar: drawn only on a terminal, and erased before the summary is printed. */
import { progressBar } from '../../loadgen/progress';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: () => string } {
  let out = '';
  const stream = { isTTY, write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
  return { stream, written: () => out };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('on a terminal: percent, rate, elapsed and errors, then erased', async () => {
  const { stream, written } = fakeStream(true);
  const bar = progressBar(true, stream);
  let replies = 0;
  bar.start(() => ({ replies: (replies += 500), errors: { timeout: 2, miss: 1 } }), 10_000, undefined);
  await sleep(600);
  bar.stop();
  const out = written();
  expect(out).toMatch(/\r\[#+ *\] +\d+%  \d+ req\/s  \d+\.\d s  errors 3/);
  expect(out.endsWith('\r\x1b[K')).toBe(true);
});

test('not a terminal, or disabled: nothing is written', async () => {
  for (const [tty, enabled] of [[false, true], [true, false]] as const) {
    const { stream, written } = fakeStream(tty);
    const bar = progressBar(enabled, stream);
    bar.start(() => ({ replies: 1, errors: {} }), undefined, 1);
    await sleep(300);
    bar.stop();
    expect(written()).toBe('');
  }
});
