/**
 * Armed grants (armed-grant.ts) on the simulated fabric, where a crash is seen as gone at once, as
 * on shm: the fabric grants a follower's log to the next leader as the old one dies, while the
 * follower's own code sleeps (a paused node: its memory still serves one-sided operations).
 * Deterministic (fixed seeds); every test runs under the cluster's safety checker.
 */
import { defaultConfig } from './config';
import { LOG_REGION } from './layout';
import { SimCluster } from './sim/cluster';
import { proposeAt as propose, quietCluster, runUntil } from './sim/quiet-group';

function goneCluster(seed: number): SimCluster {
  const c = quietCluster(seed, defaultConfig('sim'));
  c.world.crashedAnswerGone = true;
  for (const id of c.ids) c.start(id);
  // Node 1 leads and both followers follow it; node 2, next in line, keeps its request standing at node 3.
  runUntil(c, 300, () => c.leader()?.id === 1 && [2, 3].every((id) => c.members.get(id)!.node.leaderId === 1) && c.world.now > 60);
  expect(c.leader()?.id).toBe(1);
  return c;
}

const holderOfLog = (c: SimCluster, id: number) => c.world.host(id)!.regions.get(LOG_REGION)!.holder;

test('the leader dies while a follower\'s code sleeps: its log is granted anyway, and the next node leads and commits with it', () => {
  const c = goneCluster(41);
  const x = propose(c, 1, 'x');
  runUntil(c, c.world.now + 50, () => x.index > 0);
  expect(x.err).toBeNull();
  c.world.pause(3);
  c.crash(1);
  // Node 3 runs no code from here: only its fabric can hand its log to node 2 (a majority with it).
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 2);
  expect(c.leader()?.id).toBe(2);
  expect(holderOfLog(c, 3)).toBe(2);
  const y = propose(c, 2, 'y');
  runUntil(c, c.world.now + 50, () => y.index > 0);
  expect([y.err, y.index]).toEqual([null, x.index + 1]);
  // Node 3's words still name node 1 (it has not run since): the new leader does not take that
  // for a grant to someone else.
  runUntil(c, c.world.now + 20);
  expect(c.leader()?.id).toBe(2);
  c.world.resume(3);
  runUntil(c, c.world.now + 50, () => c.members.get(3)!.node.appliedIndex >= y.index);
  expect([...c.members.get(3)!.entries.values()]).toEqual(['x', 'y']);
  runUntil(c, c.world.now + 20);
  expect(c.log.some((l) => l.includes('[3] following leader 2 (our log was granted as node 1 went away)'))).toBe(true);
  expect(c.log.some((l) => l.includes('no longer grants us'))).toBe(false);
});

test('a leader that only stops answering (paused, not dead) gets no grant made for it: the fabric acts on a death alone', () => {
  const c = goneCluster(42);
  c.world.pause(3);
  c.world.pause(1);
  runUntil(c, c.world.now + 60);
  // Node 2 sees node 1 silent and stands, but node 3's log stays node 1's and nobody leads.
  expect(holderOfLog(c, 3)).toBe(1);
  expect(c.leader()).toBeUndefined();
  c.world.resume(1);
  c.world.resume(3);
  runUntil(c, c.world.now + 100, () => c.leader() !== undefined && c.members.get(3)!.node.leaderId === c.leader()!.id);
  const z = propose(c, c.leader()!.id, 'z');
  runUntil(c, c.world.now + 50, () => z.index > 0);
  expect(z.err).toBeNull();
});

test('an armed grant the node finds taken back when it runs is revoked at the grantee, which stops counting that log', () => {
  // On shm the fabric's thread may make the grant just before this node's own thread gives the log
  // elsewhere in the same turn (its grantWrite disarms only what was not made yet). The simulation
  // runs a node's code atomically, so the test plays that thread: it moves the log on by hand.
  const c = goneCluster(43);
  c.world.pause(3);
  c.crash(1);
  runUntil(c, c.world.now + 100, () => c.leader()?.id === 2);
  expect(holderOfLog(c, 3)).toBe(2);
  c.world.host(3)!.regions.get(LOG_REGION)!.holder = null;
  c.world.resume(3);
  runUntil(c, c.world.now + 30);
  expect(c.log.some((l) => l.includes("[3] node 2's armed grant was made as node 1 went away, and taken back since"))).toBe(true);
  // Node 2 learnt the grant is over (its writes there could only fail), and the group goes on.
  expect(c.log.some((l) => /\[2\] leader -> follower: (node|follower) 3 /.test(l))).toBe(true);
  runUntil(c, c.world.now + 200, () => c.leader() !== undefined && c.members.get(3)!.node.leaderId === c.leader()!.id);
  const w = propose(c, c.leader()!.id, 'w');
  runUntil(c, c.world.now + 50, () => w.index > 0);
  expect(w.err).toBeNull();
  runUntil(c, c.world.now + 20, () => c.members.get(3)!.node.appliedIndex >= w.index);
  expect(c.members.get(3)!.entries.get(w.index)).toBe('w');
});
