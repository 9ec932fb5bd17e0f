/**
 * Nodes that restart empty, on the simulated fabric, step by step (deterministic: fixed seeds).
 * SimCluster.restart starts a node as a daemon with a state directory would: knowing it ran in the
 * group before (MuNodeOptions.startedBefore). Every test runs under the cluster's safety checker,
 * which throws on two values at one index or a committed entry lost.
 */
import { SimCluster } from './sim/cluster';
import { Rng } from './sim/rng';
import { defaultConfig } from './config';
import { proposeAt as propose, runUntil } from './sim/quiet-group';

function cluster(seed: number, n = 3) {
  const c = new SimCluster(new Rng(seed), n, { ...defaultConfig('sim'), slotCount: 16 }, { minMs: 0.002, maxMs: 0.05, spikeChance: 0, spikeMaxMs: 0, tornChance: 0.2 }, true);
  for (const id of c.ids) c.start(id);
  return c;
}

const entriesOf = (c: SimCluster, id: number) => [...c.members.get(id)!.entries.entries()];

test('a leader restarted empty right after a commit only one peer holds does not found a new group: the entry survives', () => {
  // Simulation seed 15195's shape. Node 1 commits "x" with node 2 while node 3 sleeps, and dies in
  // the same turn, before its commit point reaches node 2: no control word anywhere shows history.
  const c = cluster(31);
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 1 && [2, 3].every((id) => c.members.get(id)!.node.leaderId === 1));
  c.world.pause(3);
  const x = propose(c, 1, 'x', () => c.crash(1));
  runUntil(c, c.world.now + 50, () => x.index > 0);
  expect([x.err, x.index]).toEqual([null, 1]);
  expect(c.members.get(2)!.node.appliedIndex).toBe(0);
  c.world.resume(3);
  c.restart(1);
  runUntil(c, c.world.now + 100, () => c.log.some((l) => l.includes('[1] ran in this group before')));
  // Node 1 is the lowest id: had it voted, it would have led with node 3, which never held "x".
  expect(c.members.get(1)!.node.voter).toBe(false);
  runUntil(c, c.world.now + 300, () => c.ids.every((id) => c.members.get(id)!.node.appliedIndex >= 1 && c.members.get(id)!.node.voter));
  for (const id of c.ids) expect(entriesOf(c, id)[0]).toEqual([1, 'x']);
  const y = propose(c, c.leader()!.id, 'y');
  runUntil(c, c.world.now + 100, () => y.index > 0);
  expect(y.err).toBeNull();
  expect(y.index).toBeGreaterThan(1);
});

test('a deposed leader that wakes up cannot commit with a peer that restarted empty since its prepare', () => {
  // Simulation seed 55906's shape. Node 1 leads and is cut off; nodes 2 and 3 elect node 2, which
  // commits "x" at index 1 with node 3, then dies and restarts empty. Node 1 reaches node 2 again
  // (not node 3): node 2 is all it sees, it never saw it lead, and node 2 grants it its log.
  const c = cluster(32);
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 1 && [2, 3].every((id) => c.members.get(id)!.node.leaderId === 1));
  c.world.cut(1, 2);
  c.world.cut(1, 3);
  runUntil(c, c.world.now + 300, () => c.members.get(2)!.node.role === 'leader' && c.members.get(3)!.node.leaderId === 2);
  const x = propose(c, 2, 'x');
  runUntil(c, c.world.now + 50, () => x.index > 0);
  expect([x.err, x.index]).toEqual([null, 1]);
  c.crash(2);
  c.restart(2);
  c.world.heal(1, 2);
  const since = c.log.length;
  const synced = () => c.log.slice(since).find((l) => l.includes('[1] follower 2 caught up'));
  runUntil(c, c.world.now + 300, () => synced() !== undefined);
  expect(synced()).toContain('restarted since our prepare');
  const stale = propose(c, 1, 'stale');
  runUntil(c, c.world.now + 200, () => stale.err !== null || stale.index > 0);
  // Still waiting (its term has no majority that vouches for it) or failed: never committed.
  expect(stale.err === null && stale.index > 0).toBe(false);
  c.world.heal(1, 3);
  runUntil(c, c.world.now + 500, () => c.ids.every((id) => c.members.get(id)!.node.appliedIndex >= 1) && c.leader() !== undefined);
  // "x" holds index 1 everywhere. ("stale", answered outcome unknown, may still be adopted later on:
  // it was written, so a new term's prepare finds it after "x", as it may any undecided entry.)
  for (const id of c.ids) expect(entriesOf(c, id)[0]).toEqual([1, 'x']);
});

test('with 5 nodes, a suspended term resumes once the 3 members it lost come back restarted and the one left took its writes all along', () => {
  // The chaos run's lose-majority on 5 nodes: whatever a rival decided needed 3 of the 4 followers,
  // and the one that kept taking the leader's writes accepted nothing of a rival's, so it lies only
  // in memories that are gone; the restarted members count, and writes commit again.
  const c = cluster(35, 5);
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 1 && [2, 3, 4, 5].every((id) => c.members.get(id)!.node.leaderId === 1));
  const kept = propose(c, 1, 'kept');
  runUntil(c, c.world.now + 50, () => kept.index > 0);
  expect(kept.err).toBeNull();
  for (const id of [2, 4, 5]) c.crash(id);
  runUntil(c, c.world.now + 100, () => c.members.get(1)!.node.role === 'candidate');
  for (const id of [2, 4, 5]) c.restart(id);
  runUntil(c, c.world.now + 300, () => c.log.some((l) => l.includes('every other member restarted since this term began or took its writes since')));
  const after = propose(c, 1, 'after');
  runUntil(c, c.world.now + 200, () => after.index > 0);
  expect([after.err, after.index]).toEqual([null, expect.any(Number)]);
  runUntil(c, c.world.now + 300, () => c.ids.every((id) => c.members.get(id)!.node.appliedIndex >= after.index));
  for (const id of c.ids) expect(entriesOf(c, id).map(([, p]) => p)).toEqual(expect.arrayContaining(['kept', 'after']));
});

test('a suspended term does not resume on the sight of a follower that restarted: it says why it waits', () => {
  // It used to take writes again for the few ms until its sync of the follower, then suspend anew,
  // failing what it took meanwhile.
  for (const seed of [41, 43]) {
    const c = cluster(seed);
    runUntil(c, c.world.now + 100, () => c.leader()?.id === 1 && [2, 3].every((id) => c.members.get(id)!.node.leaderId === 1));
    c.crash(3);
    c.crash(2);
    const leader = c.members.get(1)!.node;
    runUntil(c, c.world.now + 100, () => leader.role === 'candidate');
    const since = c.log.length;
    c.restart(2);
    let resumed = false;
    runUntil(c, c.world.now + 200, () => { resumed ||= leader.role === 'leader'; return false; });
    expect(resumed).toBe(false);
    expect(c.log.slice(since).filter((l) => l.includes('[1] majority reachable again'))).toEqual([]);
    expect(c.log.slice(since).some((l) => l.includes('[1] WARN suspended term cannot resume yet: node 2 restarted empty since it began, and node 3 may have elected'))).toBe(true);
  }
});

test('a group whose every member restarted empty starts anew instead of waiting forever', () => {
  // Nothing written before (the checker would count what the restarts lost), but a leader prepared:
  // every log header held its proposal, now gone with the processes.
  const c = cluster(33);
  runUntil(c, c.world.now + 100, () => c.leader() !== undefined && c.ids.every((id) => c.members.get(id)!.node.leaderId === c.leader()!.id));
  for (const id of c.ids) c.crash(id);
  for (const id of c.ids) c.restart(id);
  runUntil(c, c.world.now + 500, () => c.leader() !== undefined);
  expect(c.log.filter((l) => l.includes('(the whole group restarted empty): starting the group anew')).length).toBeGreaterThanOrEqual(2);
  const b = propose(c, c.leader()!.id, 'b');
  runUntil(c, c.world.now + 100, () => b.index > 0);
  expect([b.err, b.index]).toEqual([null, 1]);
});

test('a member restarted empty while its peers hold nothing waits for a leader to sync it, then votes', () => {
  const c = cluster(34);
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 1 && [2, 3].every((id) => c.members.get(id)!.node.leaderId === 1));
  c.crash(3);
  c.restart(3);
  runUntil(c, c.world.now + 300, () => c.members.get(3)!.node.voter);
  // No client wrote anything: the leader committed a no-op of its own to show node 3 its term is current.
  expect(c.log.some((l) => l.includes('[3] ran in this group before'))).toBe(true);
  expect(c.log.some((l) => l.includes('[3] synced by the leader'))).toBe(true);
  expect(c.members.get(3)!.node.voter).toBe(true);
});
