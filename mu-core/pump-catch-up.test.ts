/**
 * A follower that was not running for a while (descheduled, a long GC pause) has a backlog of
 * decided entries in its log: its pump applies it in consecutive turns, not one batch per pump
 * interval (which let a follower that fell behind a busy leader never catch up, so it fell out of
 * the ring into a state transfer). Deterministic simulation (mu-core/sim), simulated time.
 */
import { defaultConfig } from './config';
import { SimCluster } from './sim/cluster';
import { Rng } from './sim/rng';

/** Several pump batches (1024 entries each) of backlog. */
const ENTRIES = 3500;

function runUntil(cluster: SimCluster, untilMs: number, done: () => boolean = () => false): void {
  const world = cluster.world;
  for (let i = 0; i < 20_000_000 && world.nextTime <= untilMs && !done(); i++) world.step();
}

test.each([1, 2, 3])('seed %i: a paused follower applies a backlog of several batches within one pump interval of waking', (seed) => {
  const rng = new Rng(seed);
  const cfg = {
    ...defaultConfig('sim'), slotCount: 8192, electionPollMs: 0, ringHoldMs: 0, maxInflightPerPeer: 16, maxBatchSlots: 64,
  };
  const cluster = new SimCluster(rng, 3, cfg, { minMs: 0.002, maxMs: 0.02, spikeChance: 0, spikeMaxMs: 0, tornChance: 0 }, true);
  const world = cluster.world;
  for (const id of cluster.ids) world.schedule(0, null, () => cluster.start(id));
  runUntil(cluster, 500, () => cluster.leader() !== undefined && world.now > 50);
  const leader = cluster.leader();
  if (leader === undefined) throw new Error(`seed ${seed}: no leader\n${cluster.log.slice(-30).join('\n')}`);
  const follower = cluster.members.get(cluster.ids.find((id) => id !== leader.id)!)!;

  // Paused within the failure detector's fuse while the leader commits the backlog with the other.
  world.pause(follower.id);
  let committed = 0;
  world.schedule(0, leader.id, () => {
    for (let i = 0; i < ENTRIES; i++) leader.node.proposeCb(Buffer.from(`e${i}`), (err) => { if (err === null) committed++; });
  });
  runUntil(cluster, world.now + 3, () => committed === ENTRIES);
  expect(committed).toBe(ENTRIES);
  const target = leader.node.appliedIndex;
  const behind = target - follower.node.appliedIndex;
  expect(behind).toBeGreaterThan(3 * 1024);

  const resumedAtMs = world.now;
  world.resume(follower.id);
  cluster.checker.onResume(follower.id);
  runUntil(cluster, resumedAtMs + 20, () => follower.node.appliedIndex >= target);
  const tookMs = world.now - resumedAtMs;
  // The first pump tick after waking (at most one interval, plus the leader's commit publish)
  // applies everything; one batch per interval would take more than three intervals.
  if (follower.node.appliedIndex < target || tookMs > cfg.pumpIntervalMs + cfg.commitPublishDelayMs + 0.1) {
    throw new Error(`seed ${seed}: ${behind} entries behind, applied ${follower.node.appliedIndex}/${target} after ${tookMs.toFixed(3)} ms`);
  }
  expect(cluster.log.some((l) => l.includes('fell out of the ring'))).toBe(false);
});
