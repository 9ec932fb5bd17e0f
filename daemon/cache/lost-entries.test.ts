import { LostEntries, LostFate } from './lost-entries';

const b = (s: string) => Buffer.from(s);

function track(p: Promise<LostFate>): { fate: LostFate | null } {
  const out: { fate: LostFate | null } = { fate: null };
  void p.then((f) => { out.fate = f; });
  return out;
}
const tick = () => new Promise((r) => setImmediate(r));

test('the pump tells each lost entry its fate by what it delivers at the entry\'s index', async () => {
  const lost = new LostEntries();
  const at12 = track(lost.watch(12, b('twelve'), 10));
  const at11 = track(lost.watch(11, b('eleven'), 10)); // registered out of order: kept sorted
  const at14 = track(lost.watch(14, b('fourteen'), 10));
  lost.delivered(11, b('eleven')); // ours: committed after all
  lost.delivered(12, b('other')); // someone else's entry there
  await tick();
  expect([at11.fate, at12.fate, at14.fate]).toEqual(['applied', 'not-applied', null]);
  lost.delivered(15, b('fourteen')); // 14 was inside another entry ending at 15: not ours
  await tick();
  expect(at14.fate).toBe('not-applied');
  expect(lost.size).toBe(0);
});

test('a pass without an entry, a never-written entry and a snapshot over an index', async () => {
  const lost = new LostEntries();
  const passed = track(lost.watch(5, b('x'), 4));
  const never = track(lost.watch(0, b('y'), 4));
  const late = track(lost.watch(3, b('z'), 4)); // the pump already went past it: cannot be told
  const jumped = track(lost.watch(9, b('w'), 4));
  lost.delivered(5, null);
  lost.jumped(20);
  await tick();
  expect([passed.fate, never.fate, late.fate, jumped.fate]).toEqual(['not-applied', 'not-applied', 'unknown', 'unknown']);
});
