/**
 * A follower that was not running for a while (descheduled, a long GC pause) has a backlog of
 * decided entries in its log: its pump applies it in consecutive turns, not one batch per pump
 * interval (which let a follower that fell behind a busy leader never catch up, so it fell out of
 * the ring into a state transfer). Deterministic simulation (mu-core/sim), simulated time.
 */
import { defaultConfig } from './config';
import { quietGroupWithLeader, runUntil } from './sim/quiet-group';

/** Several pump batches (1024 entries each) of backlog. */
const ENTRIES = 3500;

test.each([1, 2, 3])('seed %i: a paused follower applies a backlog of several batches within one pump interval of waking', (seed) => {
  const cfg = {
    ...defaultConfig('sim'), slotCount: 8192, electionPollMs: 0, ringHoldMs: 0, maxInflightPerPeer: 16, maxBatchSlots: 64,
  };
  const { cluster, leader } = quietGroupWithLeader(seed, cfg);
  const world = cluster.world;
  const follower = cluster.members.get(cluster.ids.find((id) => id !== leader.id)!)!;

  // Paused within the failure detector's fuse while the leader commits the backlog with the other.
  world.pause(follower.id);
  let committed = 0;
  world.schedule(0, leader.id, () => {
    for (let i = 0; i < ENTRIES; i++) leader.node.proposeCb(Buffer.from(`e${i}`), (err) => { if (err === null) committed++; });
  });
  runUntil(cluster, world.now + 3, () => committed === ENTRIES, 20_000_000);
  expect(committed).toBe(ENTRIES);
  const target = leader.node.appliedIndex;
  const behind = target - follower.node.appliedIndex;
  expect(behind).toBeGreaterThan(3 * 1024);

  const resumedAtMs = world.now;
  world.resume(follower.id);
  cluster.checker.onResume(follower.id);
  runUntil(cluster, resumedAtMs + 20, () => follower.node.appliedIndex >= target, 20_000_000);
  const tookMs = world.now - resumedAtMs;
  // The first pump tick after waking (at most one interval, plus the leader's commit publish)
  // applies everything; one batch per interval would take more than three intervals.
  if (follower.node.appliedIndex < target || tookMs > cfg.pumpIntervalMs + cfg.commitPublishDelayMs + 0.1) {
    throw new Error(`seed ${seed}: ${behind} entries behind, applied ${follower.node.appliedIndex}/${target} after ${tookMs.toFixed(3)} ms`);
  }
  expect(cluster.log.some((l) => l.includes('fell out of the ring'))).toBe(false);
});
