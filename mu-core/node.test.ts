/** MuNode behaviour on the simulated fabric, step by step (deterministic: fixed seeds). */
import { EntryTooLargeError, LostLeadershipError, NotLeaderError } from './errors';
import { SimCluster } from './sim/cluster';
import { Rng } from './sim/rng';
import { defaultConfig } from './config';

function cluster(seed: number, n = 3) {
  const c = new SimCluster(new Rng(seed), n, { ...defaultConfig('sim'), slotCount: 16 }, { minMs: 0.002, maxMs: 0.05, spikeChance: 0, spikeMaxMs: 0, tornChance: 0.2 }, true);
  for (const id of c.ids) c.start(id);
  return c;
}

function runUntil(c: SimCluster, done: () => boolean, limitMs: number): void {
  const end = c.world.now + limitMs;
  for (let i = 0; i < 1_000_000 && !done() && c.world.now < end; i++) if (!c.world.step()) break;
}

function proposeAt(c: SimCluster, id: number, payload: string): { err: Error | null; index: number } {
  const out = { err: null as Error | null, index: -1 };
  c.members.get(id)!.node.proposeCb(Buffer.from(payload), (err, index) => {
    out.err = err;
    out.index = index;
  });
  return out;
}

test('the lowest id leads; entries commit on the leader and reach every follower in order', () => {
  const c = cluster(11);
  runUntil(c, () => c.leader() !== undefined, 100);
  expect(c.leader()?.id).toBe(1);
  const results = ['a', 'b', 'c'].map((p) => proposeAt(c, 1, p));
  runUntil(c, () => results.every((r) => r.index > 0), 50);
  expect(results.map((r) => [r.err, r.index])).toEqual([[null, 1], [null, 2], [null, 3]]);
  // The last entry becomes visible on followers through the idle commit publication.
  runUntil(c, () => [2, 3].every((id) => c.members.get(id)!.node.appliedIndex >= 3), 20);
  for (const id of [1, 2, 3]) expect([...c.members.get(id)!.entries.values()]).toEqual(['a', 'b', 'c']);
  expect(c.log.filter((l) => l.includes('Reading pump started')).map((l) => l.split(' ')[1])).toEqual(expect.arrayContaining(['[2]', '[3]']));
  expect(c.log.some((l) => l.includes('[1] became leader'))).toBe(true);
});

test('followers refuse proposals with NotLeader naming the leader; oversized entries are refused', () => {
  const c = cluster(12);
  runUntil(c, () => c.leader() !== undefined && c.members.get(2)!.node.leaderId === 1, 100);
  const r = proposeAt(c, 2, 'x');
  expect(r.err).toBeInstanceOf(NotLeaderError);
  expect((r.err as NotLeaderError).leaderHint).toBe(1);
  const big = proposeAt(c, 1, 'y'.repeat(c.members.get(1)!.node.maxPayloadBytes + 1));
  expect(big.err).toBeInstanceOf(EntryTooLargeError);
});

test('when the leader crashes, the next lowest takes over and keeps every committed entry', () => {
  const c = cluster(13);
  runUntil(c, () => c.leader() !== undefined, 100);
  const first = ['a', 'b'].map((p) => proposeAt(c, 1, p));
  runUntil(c, () => first.every((r) => r.index > 0), 50);
  const inFlight = proposeAt(c, 1, 'maybe');
  c.crash(1);
  expect(inFlight.err).toBeInstanceOf(LostLeadershipError);
  runUntil(c, () => c.leader()?.id === 2, 100);
  expect(c.leader()?.id).toBe(2);
  const after = proposeAt(c, 2, 'c');
  runUntil(c, () => after.index > 0, 50);
  expect(after.err).toBeNull();
  runUntil(c, () => c.members.get(3)!.node.appliedIndex >= after.index, 20);
  const onTwo = [...c.members.get(2)!.entries.values()];
  expect(onTwo.slice(0, 2)).toEqual(['a', 'b']);
  expect(onTwo[onTwo.length - 1]).toBe('c');
  expect([...c.members.get(3)!.entries.values()]).toEqual(onTwo);
});

test('a paused leader that wakes up is refused and follows; its in-flight proposal fails', () => {
  const c = cluster(14);
  runUntil(c, () => c.leader() !== undefined, 100);
  c.world.pause(1);
  runUntil(c, () => c.members.get(2)!.node.role === 'leader', 100);
  expect(c.members.get(2)!.node.role).toBe('leader');
  const committed = proposeAt(c, 2, 'during-pause');
  runUntil(c, () => committed.index > 0, 50);
  c.world.resume(1);
  const stale = proposeAt(c, 1, 'stale');
  runUntil(c, () => stale.err !== null || stale.index > 0, 50);
  expect(stale.err).toBeInstanceOf(LostLeadershipError);
  // Node 1 is the lowest id alive again: it takes back the lead, adopting what node 2 committed.
  runUntil(c, () => c.leader()?.id === 1, 200);
  const next = proposeAt(c, 1, 'after');
  runUntil(c, () => next.index > 0, 50);
  expect(next.index).toBeGreaterThan(committed.index);
  expect(c.members.get(1)!.entries.get(committed.index)).toBe('during-pause');
});

test('a follower restarted empty does not vote until the leader synced it, then catches up', () => {
  const c = cluster(15);
  runUntil(c, () => c.leader() !== undefined, 100);
  const first = ['a', 'b'].map((p) => proposeAt(c, 1, p));
  runUntil(c, () => first.every((r) => r.index > 0), 50);
  c.crash(3);
  runUntil(c, () => false, 10);
  c.restart(3);
  runUntil(c, () => c.log.some((l) => l.includes('[3] joined a group with history')), 50);
  expect(c.members.get(3)!.node.voter).toBe(false);
  const more = proposeAt(c, 1, 'c');
  runUntil(c, () => more.index > 0 && c.members.get(3)!.node.voter && c.members.get(3)!.node.appliedIndex >= more.index, 200);
  expect(c.members.get(3)!.node.voter).toBe(true);
  expect([...c.members.get(3)!.entries.values()]).toEqual(['a', 'b', 'c']);
  expect(c.log.some((l) => l.includes('[3] synced by the leader'))).toBe(true);
});
