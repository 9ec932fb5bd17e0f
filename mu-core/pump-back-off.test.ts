/**
 * The reading pump backs off while nothing arrives (pumpIdleMaxMs): an idle node wakes less often,
 * and a follower still applies the first entry after a quiet spell within the longest period, and
 * every entry of a stream within one short period (the period resets when a run applies something).
 * Deterministic simulation (mu-core/sim), simulated time.
 */
import { defaultConfig, MuConfig } from './config';
import type { SimCluster, SimMember } from './sim/cluster';
import { quietGroupWithLeader, runUntil } from './sim/quiet-group';

const IDLE_MS = 100;

function group(seed: number, pumpIdleMaxMs: number): { cluster: SimCluster; leader: SimMember; follower: SimMember; cfg: MuConfig } {
  const cfg = { ...defaultConfig('sim'), electionPollMs: 0, pumpIdleMaxMs };
  const { cluster, leader } = quietGroupWithLeader(seed, cfg);
  const follower = cluster.members.get(cluster.ids.find((id) => id !== leader.id)!)!;
  return { cluster, leader, follower, cfg };
}

/**
 * Timers each node sets over IDLE_MS (its wake-ups) of a group with nothing to replicate, or, with
 * `streaming`, while the leader commits an entry every 0.25 ms.
 */
function timersSet(seed: number, pumpIdleMaxMs: number, streaming = false): { counts: Map<number, number>; leaderId: number } {
  const { cluster, leader } = group(seed, pumpIdleMaxMs);
  const world = cluster.world;
  const counts = new Map<number, number>();
  const schedule = world.schedule.bind(world);
  world.schedule = (delayMs, node, fn) => {
    if (node !== null && delayMs > 0) counts.set(node, (counts.get(node) ?? 0) + 1);
    return schedule(delayMs, node, fn);
  };
  if (streaming) for (let t = 0; t < IDLE_MS; t += 0.25) schedule(t, leader.id, () => leader.node.proposeCb(Buffer.from(`s${t}`), () => undefined));
  runUntil(cluster, world.now + IDLE_MS);
  return { counts, leaderId: leader.id };
}

test.each([1, 2, 3])('seed %i: an idle group wakes less often with the back-off, leader and followers alike', (seed) => {
  const interval = defaultConfig('sim').pumpIntervalMs;
  const without = timersSet(seed, interval).counts;
  const withBackOff = timersSet(seed, 4 * interval).counts;
  // Without: a pump tick every interval on every node (the leader's included). With: one every four
  // intervals once idle, so three in four of those ticks are gone (heartbeats and scans remain).
  const saved = (3 / 4) * (IDLE_MS / interval);
  for (const [id, n] of without) {
    const m = withBackOff.get(id) ?? 0;
    if (m > n - 0.9 * saved) throw new Error(`seed ${seed}: node ${id} set ${m} timers with the back-off, ${n} without (expected ~${saved} fewer)`);
  }
});

test.each([1, 2, 3])('seed %i: a streaming leader backs its pump off too (its commits run its pump)', (seed) => {
  const interval = defaultConfig('sim').pumpIntervalMs;
  const without = timersSet(seed, interval, true);
  const withBackOff = timersSet(seed, 4 * interval, true);
  expect(withBackOff.leaderId).toBe(without.leaderId);
  const saved = (3 / 4) * (IDLE_MS / interval);
  const n = without.counts.get(without.leaderId)!;
  const m = withBackOff.counts.get(withBackOff.leaderId)!;
  if (m > n - 0.9 * saved) throw new Error(`seed ${seed}: the streaming leader set ${m} timers with the back-off, ${n} without (expected ~${saved} fewer)`);
});

test.each([1, 2, 3])('seed %i: after a quiet spell a follower applies the next entry within the longest pump period, then keeps up with a stream', (seed) => {
  const { cluster, leader, follower, cfg } = group(seed, 2);
  const world = cluster.world;
  runUntil(cluster, world.now + 20);
  const base = leader.node.appliedIndex;
  expect(follower.node.appliedIndex).toBe(base);

  // Entries committed at known times; when the follower applied each.
  const committedAtMs = new Map<number, number>();
  const appliedAtMs = new Map<number, number>();
  const propose = (i: number) => leader.node.proposeCb(Buffer.from(`b${i}`), (err, index) => {
    if (err === null) committedAtMs.set(index, world.now);
  });
  const COUNT = 80;
  for (let i = 0; i < COUNT; i++) world.schedule(i * 0.25, leader.id, () => propose(i));
  let seen = follower.node.appliedIndex;
  runUntil(cluster, world.now + COUNT * 0.25 + 10, () => {
    for (; seen < follower.node.appliedIndex; seen++) appliedAtMs.set(seen + 1, world.now);
    return appliedAtMs.size === COUNT;
  });
  expect(committedAtMs.size).toBe(COUNT);
  expect(appliedAtMs.size).toBe(COUNT);

  const lagOf = (index: number) => appliedAtMs.get(index)! - committedAtMs.get(index)!;
  const first = lagOf(base + 1);
  if (first > cfg.pumpIdleMaxMs + cfg.commitPublishDelayMs + 0.1) throw new Error(`seed ${seed}: the first entry after 20 ms idle applied ${first.toFixed(3)} ms after its commit`);
  // Once entries flow, the period is back to pumpIntervalMs: no entry waits for a backed-off tick.
  for (let index = base + 4; index <= base + COUNT; index++) {
    const lag = lagOf(index);
    if (lag > cfg.pumpIntervalMs + cfg.commitPublishDelayMs + 0.1) throw new Error(`seed ${seed}: entry ${index} of a stream applied ${lag.toFixed(3)} ms after its commit`);
  }
});
