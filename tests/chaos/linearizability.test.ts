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

/** 40 concurrent unknown writes and reads that pin none of them: one segment with a large search space. */
function hardSegment(fromMs: number): Op[] {
  const h: Op[] = [];
  for (let i = 0; i < 40; i++) h.push(op('set', fromMs + i * 0.01, Infinity, { value: `h${fromMs}-${i}` }));
  for (let i = 0; i < 40; i++) h.push(op('get', fromMs + 1 + i, fromMs + 1.5 + i, { result: `h${fromMs}-${(i * 7) % 40}` }));
  return h;
}

/** `pairs` quiet segments from `fromMs`: a set and a read of it that overlaps it, 4 ms apart. */
function easySegments(pairs: number, fromMs = 0, key = 'k'): Op[] {
  const h: Op[] = [];
  for (let i = 0; i < pairs; i++) {
    const t = fromMs + i * 4;
    h.push(op('set', t, t + 2, { key, value: `${key}${fromMs}-${i}`, result: 'STORED' }));
    h.push(op('get', t + 1, t + 3, { key, result: `${key}${fromMs}-${i}` }));
  }
  return h;
}

test('the step bound is per segment: thousands of easy segments pass where their sum is far past it', () => {
  const r = checkHistory(easySegments(3000), { maxStepsPerSegment: 100, maxStepsTotal: 10_000_000 });
  expect(r.verdict).toBe('linearizable');
  expect(r.keys[0].segments).toBe(3000);
  // A bound per key of 100 steps (the old semantics) would have given up 100 times over.
  expect(r.keys[0].steps).toBeGreaterThan(100 * 100);
  expect(r.steps).toBe(r.keys[0].steps);
});

test('one hard segment among easy ones gives up, and the report names its key, index, size and span', () => {
  const h = [...easySegments(50, 0), ...hardSegment(1000), ...easySegments(50, 2000)];
  const r = checkHistory(h, { unknownHorizonMs: 100, maxStepsPerSegment: 10_000, maxStepsTotal: 10_000_000 });
  expect(r.verdict).toBe('gave-up');
  const k = r.keys[0];
  expect(k.verdict).toBe('gave-up');
  // 50 easy segments, then the hard one: the unknown writes' horizons (100 ms) hold it open from
  // the first write at 1000 ms to the last one's horizon at 1100.39 ms.
  expect(k.gaveUp).toEqual({ bound: 'segment', segment: 51, ops: 80, unknownOps: 40, fromMs: 1000, toMs: 1000 + 0.39 + 100, steps: 10_000 });
});

test('the total bound stops the whole check: the key it runs out in and every later key give up', () => {
  const h = [...easySegments(1000, 0, 'a'), ...easySegments(1000, 0, 'b'), ...easySegments(10, 0, 'c')];
  const alone = checkHistory(easySegments(1000, 0, 'a'), { maxStepsPerSegment: 100 });
  // Enough for key a and part of b.
  const r = checkHistory(h, { maxStepsPerSegment: 100, maxStepsTotal: alone.steps + 50 });
  expect(r.verdict).toBe('gave-up');
  expect(r.keys.map((k) => k.verdict)).toEqual(['linearizable', 'gave-up', 'gave-up']);
  expect(r.keys[1].gaveUp?.bound).toBe('total');
  expect(r.keys[1].gaveUp?.segment).toBeGreaterThan(1);
  expect(r.keys[2].gaveUp).toMatchObject({ bound: 'total', segment: 1, steps: 0 });
  expect(r.steps).toBe(alone.steps + 50);
});

test('a stale read after thousands of easy segments is still found with a small bound per segment', () => {
  const h = easySegments(3000);
  const stale = op('get', 3000 * 4 + 10, 3000 * 4 + 11, { result: 'k0-2998' });
  const r = checkHistory([...h, stale], { maxStepsPerSegment: 100, maxStepsTotal: 10_000_000 });
  expect(r.verdict).toBe('violation');
  expect(r.violations[0].blockedOp?.id).toBe(stale.id);
  expect(r.keys[0].segments).toBe(3001);
});

/**
 * What a fault leaves: a dozen writes of unknown outcome, all in flight over a long stretch of
 * acknowledged sets and reads. Half are cas on a value long gone (they change nothing), half are
 * sets nobody reads (overwritten at once if they took effect). Each may or may not have been
 * applied at each point: 2^12 linearized sets per state for a search that applies them eagerly.
 */
function afterFault(pairs: number): Op[] {
  const h: Op[] = [op('set', 0, 1, { value: 'v0', result: 'STORED' })];
  for (let i = 0; i < 6; i++) {
    h.push(op('cas', 2 + i * 0.1, Infinity, { expected: 'gone', value: `c${i}` }));
    h.push(op('set', 2.05 + i * 0.1, Infinity, { value: `u${i}` }));
  }
  for (let i = 0; i < pairs; i++) {
    h.push(op('set', 10 + i * 4, 11 + i * 4, { value: `v${i + 1}`, result: 'STORED' }));
    h.push(op('get', 12 + i * 4, 13 + i * 4, { result: `v${i + 1}` }));
  }
  return h;
}

test('unknown writes that change nothing or are overwritten unseen keep a long segment cheap', () => {
  const h = afterFault(300);
  const r = checkHistory(h, { unknownHorizonMs: 2000, maxStepsPerSegment: 200_000 });
  expect(r.verdict).toBe('linearizable');
  // The first set, then one segment: the unknown writes' horizons cover every later op.
  expect(r.keys[0].segments).toBe(2);
  expect(r.steps).toBeLessThan(200_000);
});

test('in such a segment a read of an unknown write, then of an older value, is still a violation', () => {
  // u3 (unknown) seen, then v5 again after v6 overwrote it: the stale read is found.
  const h = afterFault(300);
  h.push(op('get', 10 + 300 * 4, 10 + 300 * 4 + 1, { result: 'u3' }));
  const ok = checkHistory(h, { unknownHorizonMs: 2000, maxStepsPerSegment: 200_000 });
  expect(ok.verdict).toBe('linearizable');
  const stale = op('get', 10 + 300 * 4 + 2, 10 + 300 * 4 + 3, { result: 'v5' });
  const r = checkHistory([...h, stale], { unknownHorizonMs: 2000, maxStepsPerSegment: 200_000 });
  expect(r.verdict).toBe('violation');
  expect(r.violations[0].blockedOp?.id).toBe(stale.id);
  // A stale cas that did take effect cannot: "gone" was never the value.
  const casSeen = [...afterFault(300), op('get', 10 + 300 * 4, 10 + 300 * 4 + 1, { result: 'c2' })];
  expect(checkHistory(casSeen, { unknownHorizonMs: 2000, maxStepsPerSegment: 200_000 }).verdict).toBe('violation');
});

test('the work bound makes the checker give up instead of hanging', () => {
  const r = checkHistory(hardSegment(0), { maxStepsPerSegment: 10_000 });
  expect(r.verdict).toBe('gave-up');
  expect(r.keys[0].gaveUp).toMatchObject({ bound: 'segment', segment: 1, ops: 80, unknownOps: 40, steps: 10_000 });
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
  const r = checkHistory(history, { unknownHorizonMs: Infinity, maxStepsPerSegment: 100_000 });
  expect(r.verdict).toBe('linearizable');
  expect(r.checkedOps).toBe(300);
  const stale = [...history, op('get', 700, 701, { result: 'v3' })];
  expect(checkHistory(stale, { unknownHorizonMs: Infinity, maxStepsPerSegment: 100_000 }).verdict).toBe('violation');
});
