import { newLiveness, observe } from './detector';

const cfg = { scoreMax: 8, scoreAliveAt: 4, scoreDeadAt: 2 };

test('a peer becomes alive only after scoreAliveAt moving heartbeats', () => {
  const p = newLiveness();
  const changes = [1, 2, 3, 4, 5].map((hb) => observe(p, hb, 1, cfg));
  expect(changes).toEqual([null, null, null, 'became-alive', null]);
  expect(p.alive).toBe(true);
});

test('hysteresis: one stalled or failed read does not kill a peer, a run of them does', () => {
  const p = newLiveness();
  for (let hb = 1; hb <= 10; hb++) observe(p, hb, 1, cfg);
  expect(p.score).toBe(8);
  expect(observe(p, 10, 1, cfg)).toBeNull(); // stalled once
  expect(observe(p, null, 1, cfg)).toBeNull(); // read failed once
  expect(observe(p, 11, 1, cfg)).toBeNull(); // moving again
  const changes: Array<string | null> = [];
  for (let k = 0; k < 8; k++) changes.push(observe(p, 11, 1, cfg));
  expect(changes.filter((c) => c === 'became-dead')).toHaveLength(1);
  expect(p.alive).toBe(false);
  // A dead peer needs the full climb back, not one lucky read.
  expect(observe(p, 12, 1, cfg)).toBeNull();
  expect(p.alive).toBe(false);
});

test('a restarted peer (new incarnation) counts as progress even if the counter repeats', () => {
  const p = newLiveness();
  observe(p, 5, 1, cfg);
  const before = p.score;
  observe(p, 5, 2, cfg);
  expect(p.score).toBe(before + 1);
});

test('a refused read (missWeight) counts as several silent scans; a slow one as one', () => {
  const p = newLiveness();
  for (let hb = 1; hb <= 10; hb++) observe(p, hb, 1, cfg);
  expect(p.score).toBe(8);
  expect(observe(p, null, 1, cfg, 3)).toBeNull(); // 8 -> 5: still alive
  expect(p.score).toBe(5);
  expect(observe(p, null, 1, cfg, 3)).toBe('became-dead'); // 5 -> 2
  expect(p.score).toBe(2);
  expect(observe(p, null, 1, cfg, 3)).toBeNull();
  expect(p.score).toBe(0); // clamped
  // A weight below one still counts as a miss.
  const q = newLiveness();
  for (let hb = 1; hb <= 10; hb++) observe(q, hb, 1, cfg);
  observe(q, null, 1, cfg, 0);
  expect(q.score).toBe(7);
});
