/** The chaos harness's pure parts: reply parsing, the fault schedule, the bridge partition, the options. */
import { bridgeSides } from '../../loadgen/chaos/faults';
import { faultOptionsFor } from '../../loadgen/chaos/fault-options';
import {
  ALL_FAULT_KINDS, FaultKind, PROCESS_FAULT_KINDS, faultKindsFor, faultPhaseOver, nextGapMs, nextKind, quotaMet,
} from '../../loadgen/chaos/schedule';
import { parseValueReply } from '../../loadgen/chaos/text-client';
import { unknownHorizonAfter } from '../../loadgen/chaos/horizon';
import { makeRng } from '../../loadgen/rng';

const SEED = Number(process.env.CHAOS_PURE_SEED ?? 12345);
afterAll(() => process.stdout.write(`chaos pure tests: seed ${SEED}\n`));

test('get/gets replies parse to value and CAS unique; anything else throws', () => {
  expect(parseValueReply('END\r\n')).toBeNull();
  expect(parseValueReply('VALUE k 0 3\r\nabc\r\nEND\r\n')).toEqual({ value: 'abc', cas: null });
  expect(parseValueReply('VALUE k 0 7 42\r\n1000000\r\nEND\r\n')).toEqual({ value: '1000000', cas: '42' });
  expect(() => parseValueReply('SERVER_ERROR out of memory\r\n')).toThrow();
  expect(() => parseValueReply('VALUE k 0 5\r\nabc\r\nEND\r\n')).toThrow();
});

test('shm gets the process faults, tcp adds the partitions', () => {
  expect(faultKindsFor('shm')).toEqual([...PROCESS_FAULT_KINDS]);
  expect(faultKindsFor('tcp')).toEqual([...ALL_FAULT_KINDS]);
  expect(faultKindsFor('tcp')).toEqual(expect.arrayContaining(['partition-leader', 'partition-follower', 'split-brain', 'restart']));
});

test('every round of faults holds each kind once, in a seeded order', () => {
  for (const kinds of [faultKindsFor('shm'), faultKindsFor('tcp')]) {
    const rng = makeRng(SEED);
    const round: FaultKind[] = [];
    const seen = Array.from({ length: 5 * kinds.length }, () => nextKind(rng, round, kinds));
    for (let r = 0; r < 5; r++) expect([...seen.slice(r * kinds.length, (r + 1) * kinds.length)].sort()).toEqual([...kinds].sort());
    const again = makeRng(SEED);
    const round2: FaultKind[] = [];
    expect(Array.from({ length: seen.length }, () => nextKind(again, round2, kinds))).toEqual(seen);
  }
});

test('with a quota the gaps fit the faults left into the time left', () => {
  const rng = makeRng(SEED);
  const o = { kinds: 7, faultsPerKind: 50, minGapMs: 0, maxGapMs: 1500, durationMs: 600_000 };
  // 350 faults in 600 s with faults of 1 s: about 0.71 s between them, +-25%.
  const gap = nextGapMs(rng, o, { elapsedMs: 0, faultsDone: 0, meanFaultMs: 1000 });
  expect(gap).toBeGreaterThanOrEqual(Math.floor(0.75 * (600_000 / 350 - 1000)));
  expect(gap).toBeLessThanOrEqual(Math.ceil(1.25 * (600_000 / 350 - 1000)));
  // Behind schedule: no gap at all. Quota done: back to the seeded gaps.
  expect(nextGapMs(rng, o, { elapsedMs: 500_000, faultsDone: 100, meanFaultMs: 1500 })).toBe(0);
  for (let i = 0; i < 50; i++) {
    const g = nextGapMs(rng, { ...o, minGapMs: 200 }, { elapsedMs: 100_000, faultsDone: 350, meanFaultMs: 1000 });
    expect(g).toBeGreaterThanOrEqual(200);
    expect(g).toBeLessThanOrEqual(1500);
  }
  // Far ahead of schedule: never more than maxGapMs.
  expect(nextGapMs(rng, o, { elapsedMs: 0, faultsDone: 349, meanFaultMs: 0 })).toBe(1500);
});

test('the fault phase ends at its length once the quota is met, and at the hard cap regardless', () => {
  const kinds: FaultKind[] = ['kill-leader', 'restart'];
  const counts = new Map<FaultKind, number>([['kill-leader', 50], ['restart', 49]]);
  expect(quotaMet(counts, kinds, 50)).toBe(false);
  expect(quotaMet(counts, kinds, null)).toBe(true);
  counts.set('restart', 50);
  expect(quotaMet(counts, kinds, 50)).toBe(true);
  expect(faultPhaseOver(599_000, 600_000, 1_200_000, true)).toBe(false);
  expect(faultPhaseOver(600_000, 600_000, 1_200_000, true)).toBe(true);
  expect(faultPhaseOver(900_000, 600_000, 1_200_000, false)).toBe(false);
  expect(faultPhaseOver(1_200_000, 600_000, 1_200_000, false)).toBe(true);
});

test('the quota defaults to 50 per kind from 10 minutes on; 0 turns it off', () => {
  expect(faultOptionsFor({ fabric: 'tcp', durationMs: 600_000, recoverTimeoutMs: 1 }).faultsPerKind).toBe(50);
  expect(faultOptionsFor({ fabric: 'tcp', durationMs: 599_000, recoverTimeoutMs: 1 }).faultsPerKind).toBeNull();
  expect(faultOptionsFor({ fabric: 'shm', durationMs: 600_000, faultsPerKind: 0, recoverTimeoutMs: 1 }).faultsPerKind).toBeNull();
  expect(faultOptionsFor({ fabric: 'shm', durationMs: 60_000, faultsPerKind: 3, recoverTimeoutMs: 1 }).faultsPerKind).toBe(3);
  const o = faultOptionsFor({ fabric: 'tcp', durationMs: 600_000, recoverTimeoutMs: 1 });
  expect(o.kinds).toHaveLength(8);
  expect(o.hardCapMs).toBeGreaterThan(o.durationMs);
});

test('a bridge partition: the leader on side A, each side plus the bridge a majority, A and B disjoint', () => {
  const rng = makeRng(SEED);
  for (const n of [3, 5]) {
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    for (let trial = 0; trial < 50; trial++) {
      const leader = 1 + rng.below(n);
      const { a, b, bridge } = bridgeSides(rng, leader, ids);
      expect(a).toContain(leader);
      expect([...a, ...b, bridge].sort()).toEqual(ids);
      expect(a.length + 1).toBeGreaterThan(n / 2);
      expect(b.length + 1).toBeGreaterThan(n / 2);
      expect(a.length).toBeLessThan(n / 2);
      expect(b.length).toBeLessThan(n / 2);
    }
  }
});

test('the check\'s horizon grows by the longest lose-majority fault, and only by those', () => {
  expect(unknownHorizonAfter(4300, [])).toBe(4300);
  expect(unknownHorizonAfter(4300, [{ kind: 'stop-leader', heldMs: 800 }, { kind: 'partition-leader', heldMs: 900 }])).toBe(4300);
  expect(unknownHorizonAfter(4300, [{ kind: 'lose-majority', heldMs: 1200 }, { kind: 'lose-majority', heldMs: 2499.2 }, { kind: 'stop-leader', heldMs: 700 }])).toBe(6800);
  expect(PROCESS_FAULT_KINDS).toContain('lose-majority');
});
