/**
 * The checker accepts every linearizable history (random ones built by simulating a register) and
 * rejects histories with a stale read, a lost write, an impossible incr or cas, naming the op.
 */
import { checkHistory } from '../../loadgen/chaos/linearizability';
import { Op } from '../../loadgen/chaos/history';
import { formatViolation } from '../../loadgen/chaos/violation';
import { simulateHistory } from './simulate';

let nextId = 1;
function op(kind: Op['kind'], invokeMs: number, returnMs: number, fields: Partial<Op> = {}): Op {
  return { id: nextId++, client: nextId, key: 'k', kind, invokeMs, returnMs, ...fields };
}

describe('random linearizable histories check out', () => {
  const baseSeed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
  for (let run = 0; run < 30; run++) {
    const seed = baseSeed + run;
    test(`seed ${seed}`, () => {
      const history = simulateHistory({ seed, clients: 2 + (run % 5), opsPerClient: 60, keys: 1 + (run % 3), unknownRate: run % 2 === 0 ? 0 : 0.05, unknownEffectMs: 20 });
      // Unknown outcomes that stay in flight forever make the search grow fast: the long random
      // histories use a horizon, short ones below check the infinite case.
      const r = checkHistory(history, { unknownHorizonMs: run % 4 === 2 ? Infinity : 20 });
      if (r.verdict !== 'linearizable') throw new Error(`seed ${seed}: ${r.verdict}\n${r.violations.map(formatViolation).join('\n')}`);
      expect(r.verdict).toBe('linearizable');
    });
  }
});

test('short random histories with unknown outcomes and no horizon check out', () => {
  const baseSeed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
  for (let run = 0; run < 10; run++) {
    const seed = baseSeed + run;
    const history = simulateHistory({ seed, clients: 3, opsPerClient: 15, keys: 1, unknownRate: 0.05, unknownEffectMs: 20 });
    const r = checkHistory(history);
    if (r.verdict !== 'linearizable') throw new Error(`seed ${seed}: ${r.verdict}\n${r.violations.map(formatViolation).join('\n')}`);
  }
});

test('a stale read after a committed write is a violation naming that read', () => {
  const stale = op('get', 20, 21, { result: 'v1' });
  const h = [op('set', 0, 1, { value: 'v1', result: 'STORED' }), op('set', 10, 12, { value: 'v2', result: 'STORED' }), stale];
  const r = checkHistory(h);
  expect(r.verdict).toBe('violation');
  const v = r.violations[0];
  expect(v.blockedOp?.id).toBe(stale.id);
  expect(v.why).toContain(`get #${stale.id} returned "v1" at t=21.000 ms`);
  expect(v.why).toContain('after set #');
  expect(v.why).toContain('of "v2" completed at t=12.000 ms');
  expect(formatViolation(v)).toContain(`> #${stale.id} client`);
});

test('a read concurrent with the write may see either value', () => {
  const h = [op('set', 0, 1, { value: 'v1', result: 'STORED' }), op('set', 10, 20, { value: 'v2', result: 'STORED' }),
    op('get', 11, 12, { result: 'v2' }), op('get', 13, 14, { result: 'v1' })];
  // v2 seen then v1 by later reads while the write is still in flight: not linearizable.
  expect(checkHistory(h).verdict).toBe('violation');
  const ok = [op('set', 0, 1, { value: 'v1', result: 'STORED' }), op('set', 10, 20, { value: 'v2', result: 'STORED' }),
    op('get', 11, 12, { result: 'v1' }), op('get', 13, 14, { result: 'v2' })];
  expect(checkHistory(ok).verdict).toBe('linearizable');
});

test('an acknowledged write missing from the final read is a violation; an unknown one is not', () => {
  const lost = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('set', 2, 3, { value: 'b', result: 'STORED' }), op('get', 100, 101, { result: 'a' })];
  expect(checkHistory(lost).verdict).toBe('violation');
  const unknown = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('set', 2, Infinity, { value: 'b' }), op('get', 100, 101, { result: 'a' })];
  expect(checkHistory(unknown).verdict).toBe('linearizable');
  const unknownApplied = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('set', 2, Infinity, { value: 'b' }), op('get', 100, 101, { result: 'b' }), op('get', 102, 103, { result: 'b' })];
  expect(checkHistory(unknownApplied).verdict).toBe('linearizable');
  // Once seen, an unknown write cannot be undone.
  const flip = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('set', 2, Infinity, { value: 'b' }), op('get', 100, 101, { result: 'b' }), op('get', 102, 103, { result: 'a' })];
  expect(checkHistory(flip).verdict).toBe('violation');
  // Past the horizon an unknown write can no longer appear.
  const late = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('set', 2, Infinity, { value: 'b' }), op('get', 60, 61, { result: 'a' }), op('get', 100, 101, { result: 'b' })];
  expect(checkHistory(late, { unknownHorizonMs: 50 }).verdict).toBe('violation');
  expect(checkHistory(late).verdict).toBe('linearizable');
});

test('incr: results follow the value, wrap at 2^64, miss on an absent key', () => {
  const good = [op('set', 0, 1, { value: '18446744073709551614', result: 'STORED' }), op('incr', 2, 3, { value: '1', result: '18446744073709551615' }),
    op('incr', 4, 5, { value: '3', result: '2' }), op('get', 6, 7, { result: '2' }), op('delete', 8, 9, { result: 'DELETED' }), op('incr', 10, 11, { value: '1', result: null })];
  expect(checkHistory(good).verdict).toBe('linearizable');
  const twice = [op('set', 0, 1, { value: '10', result: 'STORED' }), op('incr', 2, 5, { value: '1', result: '11' }), op('incr', 3, 6, { value: '1', result: '11' })];
  const r = checkHistory(twice);
  expect(r.verdict).toBe('violation');
  expect(r.violations[0].why).toMatch(/incr #\d+ returned "11"/);
  const concurrent = [op('set', 0, 1, { value: '10', result: 'STORED' }), op('incr', 2, 5, { value: '1', result: '12' }), op('incr', 3, 6, { value: '1', result: '11' })];
  expect(checkHistory(concurrent).verdict).toBe('linearizable');
  // memcached pads an in-place incr result with spaces; a read of it still matches.
  const padded = [op('set', 0, 1, { value: '18446744073709551615', result: 'STORED' }), op('incr', 2, 3, { value: '1', result: '0' }), op('get', 4, 5, { result: '0                   ' })];
  expect(checkHistory(padded).verdict).toBe('linearizable');
});

test('cas: succeeds only on the value its gets saw; two cas on one version cannot both win', () => {
  const good = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('cas', 2, 3, { expected: 'a', value: 'b', result: 'STORED' }),
    op('cas', 4, 5, { expected: 'a', value: 'c', result: 'EXISTS' }), op('get', 6, 7, { result: 'b' })];
  expect(checkHistory(good).verdict).toBe('linearizable');
  const bothWin = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('cas', 2, 5, { expected: 'a', value: 'b', result: 'STORED' }),
    op('cas', 3, 6, { expected: 'a', value: 'c', result: 'STORED' })];
  const r = checkHistory(bothWin);
  expect(r.verdict).toBe('violation');
  expect(r.violations[0].blockedOp?.kind).toBe('cas');
  const existsWrongly = [op('set', 0, 1, { value: 'a', result: 'STORED' }), op('cas', 2, 3, { expected: 'a', value: 'b', result: 'EXISTS' })];
  expect(checkHistory(existsWrongly).verdict).toBe('violation');
});

test('weak reads are counted but not held to linearizability', () => {
  const h = [op('set', 0, 1, { value: 'v1', result: 'STORED' }), op('set', 10, 12, { value: 'v2', result: 'STORED' }), op('get', 20, 21, { result: 'v1', weak: true })];
  const r = checkHistory(h);
  expect(r.verdict).toBe('linearizable');
  expect(r.weakReads).toBe(1);
});

test('the work bound makes the checker give up instead of hanging', () => {
  // Many concurrent unknown writes and reads that pin none of them: a large search space.
  const h: Op[] = [];
  for (let i = 0; i < 40; i++) h.push(op('set', i * 0.01, Infinity, { value: `v${i}` }));
  for (let i = 0; i < 40; i++) h.push(op('get', 1 + i, 1.5 + i, { result: `v${(i * 7) % 40}` }));
  const r = checkHistory(h, { maxStepsPerKey: 10_000 });
  expect(r.verdict).toBe('gave-up');
});

test('reads of unknown outcome are left out: they cannot explain anything, and kept they make the search give up', () => {
  // 30 reads that never returned, all in flight over 300 sequential writes and reads: kept, each
  // one doubles the states explored; left out, the history checks at once, and a stale read
  // among the known operations is still found.
  const history: Op[] = [];
  for (let i = 0; i < 30; i++) history.push(op('get', i * 0.1, Infinity));
  for (let i = 0; i < 150; i++) {
    history.push(op('set', 10 + i * 4, 11 + i * 4, { value: `v${i}`, result: 'STORED' }));
    history.push(op('get', 12 + i * 4, 13 + i * 4, { result: `v${i}` }));
  }
  const r = checkHistory(history, { unknownHorizonMs: Infinity, maxStepsPerKey: 100_000 });
  expect(r.verdict).toBe('linearizable');
  expect(r.checkedOps).toBe(300);
  const stale = [...history, op('get', 700, 701, { result: 'v3' })];
  expect(checkHistory(stale, { unknownHorizonMs: Infinity, maxStepsPerKey: 100_000 }).verdict).toBe('violation');
});
