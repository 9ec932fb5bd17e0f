import { LeaderWait } from './leader-wait';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('writes held without a leader are released together, in the order they arrived, once one is known', async () => {
  let known = false;
  const wait = new LeaderWait(() => known, 1);
  const order: string[] = [];
  const far = Date.now() + 60_000;
  // Arrivals spread over several poll intervals, so that per-write timers would have had phases.
  const held: Array<Promise<void>> = [];
  for (const name of ['a', 'b', 'c', 'd']) {
    held.push(wait.next(far).then(() => { order.push(name); }));
    await sleep(3);
  }
  await sleep(10);
  expect(order).toEqual([]);
  expect(wait.size).toBe(4);
  known = true;
  await Promise.all(held);
  expect(order).toEqual(['a', 'b', 'c', 'd']);
  expect(wait.size).toBe(0);
});

test('a write whose deadline passes is released to fail; the others keep waiting', async () => {
  let nowMs = 1000;
  const wait = new LeaderWait(() => false, 1, () => nowMs);
  const released: string[] = [];
  void wait.next(1500).then(() => released.push('short'));
  void wait.next(9000).then(() => released.push('long'));
  await sleep(10);
  expect(released).toEqual([]);
  nowMs = 1500;
  for (let i = 0; i < 100 && released.length === 0; i++) await sleep(2);
  expect(released).toEqual(['short']);
  expect(wait.size).toBe(1);
  nowMs = 9000;
  for (let i = 0; i < 100 && released.length === 1; i++) await sleep(2);
  expect(released).toEqual(['short', 'long']);
});

test('poke (a leader change) releases the held writes at once, in arrival order, without waiting for the poll', async () => {
  let known = false;
  // A poll far longer than the test: only poke can release them.
  const wait = new LeaderWait(() => known, 60_000);
  const order: string[] = [];
  const far = Date.now() + 120_000;
  const held = ['a', 'b', 'c'].map((name) => wait.next(far).then(() => { order.push(name); }));
  wait.poke(); // no leader known yet: nothing moves
  await sleep(5);
  expect(order).toEqual([]);
  known = true;
  wait.poke();
  await Promise.all(held);
  expect(order).toEqual(['a', 'b', 'c']);
  expect(wait.size).toBe(0);
});
