/**
 * A follower that fell out of the ring gets one snapshot, not one per scan that sees it progress:
 * once awake it still applies what its log held, and that progress is not the snapshot arriving.
 * Deterministic simulation (mu-core/sim): 3 nodes, an 8-slot ring, a follower paused while the
 * leader writes past it, then resumed.
 */
import { defaultConfig } from './config';
import { quietGroupWithLeader, runUntil } from './sim/quiet-group';

const SLOTS = 8;
const ENTRIES = 2 * SLOTS + 2;
/** Well under the leader's re-ask timeout (50 scans). */
const SNAPSHOT_TRANSFER_MS = 8;

test.each([1, 2, 3, 4, 5])('seed %i: one state transfer for one fall-out, then the follower streams again', (seed) => {
  // No ring hold: the leader goes on without the paused follower at once (ring-hold.test.ts holds).
  const cfg = { ...defaultConfig('sim'), slotCount: SLOTS, electionPollMs: 0, ringHoldMs: 0 };
  const { cluster, leader } = quietGroupWithLeader(seed, cfg);
  const world = cluster.world;
  const follower = cluster.ids.find((id) => id !== leader.id)!;
  // A state transfer takes a while (the daemon ships the store over a TCP link), so the follower
  // wakes and applies what its log held before the snapshot lands.
  const sim = cluster as unknown as { shipSnapshot: (from: number, to: number, upTo: number) => void };
  const ship = sim.shipSnapshot.bind(cluster);
  sim.shipSnapshot = (from, to, upTo) => { world.schedule(SNAPSHOT_TRANSFER_MS, null, () => ship(from, to, upTo)); };

  // Paused for a moment (well inside the failure detector's fuse) while the leader commits a ring
  // and a bit with the other follower: the paused one falls out of the ring. The snapshot taken
  // then covers all but the last few entries, which the follower can take from the log after it.
  world.pause(follower);
  const committed: number[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    world.schedule(i * 0.05, leader.id, () => leader.node.proposeCb(Buffer.from(`p${i}`), (err, index) => { if (err === null) committed.push(index); }));
  }
  const resumeAt = world.now + ENTRIES * 0.05 + 0.5;
  runUntil(cluster, resumeAt);
  world.resume(follower);
  cluster.checker.onResume(follower);
  runUntil(cluster, world.now + 200);

  const context = `seed ${seed}\n${cluster.log.filter((l) => l.includes(`[${leader.id}]`) || l.includes(`[${follower}]`)).slice(-40).join('\n')}`;
  expect(committed.length).toBe(ENTRIES);
  const fellOut = cluster.log.filter((l) => l.includes(`[${leader.id}] follower ${follower} fell out of the ring`));
  if (fellOut.length !== 1) throw new Error(`${fellOut.length} state transfers for one fall-out; ${context}`);
  const member = cluster.members.get(follower)!;
  expect(member.node.appliedIndex).toBe(leader.node.appliedIndex);
  expect(member.entries.get(Math.max(...committed))).toBe(`p${ENTRIES - 1}`);
});
