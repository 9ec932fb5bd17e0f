/**
 * The ring hold (leader.ts): a follower that stops applying for a moment is waited for instead of
 * falling out of the ring into a state transfer; one that stays behind longer than ringHoldMs, or
 * dies, stalls the leader at most that long and then falls out as before.
 * Deterministic simulation (mu-core/sim): 3 nodes, an 8-slot ring, simulated time.
 */
import { defaultConfig, MuConfig } from './config';
import type { SimCluster, SimMember } from './sim/cluster';
import { quietGroupWithLeader, runUntil } from './sim/quiet-group';

const SLOTS = 8;
const ENTRIES = 3 * SLOTS;
const PROPOSE_EVERY_MS = 0.05;

interface Run {
  cluster: SimCluster;
  leader: SimMember;
  follower: number;
  /** Simulated time each proposal committed at, by proposal number. */
  committedAtMs: Map<number, number>;
  stoppedAtMs: number;
  context: () => string;
}

/** A group with a leader; `follower` is paused (or crashed) while the leader proposes ENTRIES. */
function start(seed: number, cfg: MuConfig, how: 'pause' | 'crash'): Run {
  const { cluster, leader } = quietGroupWithLeader(seed, cfg);
  const world = cluster.world;
  const follower = cluster.ids.find((id) => id !== leader.id)!;
  const stoppedAtMs = world.now;
  if (how === 'pause') world.pause(follower);
  else cluster.crash(follower);
  const committedAtMs = new Map<number, number>();
  for (let i = 0; i < ENTRIES; i++) {
    world.schedule(i * PROPOSE_EVERY_MS, leader.id, () => leader.node.proposeCb(Buffer.from(`p${i}`), (err) => {
      if (err === null) committedAtMs.set(i, world.now);
    }));
  }
  const context = () => `seed ${seed}\n${cluster.log.filter((l) => l.includes(`[${leader.id}]`) || l.includes(`[${follower}]`)).slice(-40).join('\n')}`;
  return { cluster, leader, follower, committedAtMs, stoppedAtMs, context };
}

/** Keeps the follower paused `pausedMs` after it stopped, resumes it, runs `thenMs` more; returns the commits seen while paused. */
function pauseThenResume(r: Run, pausedMs: number, thenMs: number): number {
  runUntil(r.cluster, r.stoppedAtMs + pausedMs);
  const committedWhilePaused = r.committedAtMs.size;
  r.cluster.world.resume(r.follower);
  r.cluster.checker.onResume(r.follower);
  runUntil(r.cluster, r.cluster.world.now + thenMs);
  return committedWhilePaused;
}

function fellOut(r: Run): number {
  return r.cluster.log.filter((l) => l.includes(`[${r.leader.id}] follower ${r.follower} fell out of the ring`)).length;
}

function holds(r: Run): { ringHolds: number; ringHoldsWaived: number } {
  const f = r.leader.node.progress.followers.find((p) => p.peer === r.follower)!;
  return { ringHolds: f.ringHolds, ringHoldsWaived: f.ringHoldsWaived };
}

const SEEDS = [1, 2, 3, 4, 5];

test.each(SEEDS)('seed %i: a follower paused for less than ringHoldMs is waited for, not sent a state transfer', (seed) => {
  const cfg = { ...defaultConfig('sim'), slotCount: SLOTS, electionPollMs: 0, ringHoldMs: 6 };
  const r = start(seed, cfg, 'pause');
  // Paused well past one ring of proposals, well within the hold (and the failure detector's fuse).
  const committedWhilePaused = pauseThenResume(r, 2, 100);

  if (fellOut(r) !== 0) throw new Error(`the paused follower fell out of the ring; ${r.context()}`);
  // It was held for: the leader stopped taking entries before the follower's ring would overflow.
  expect(committedWhilePaused).toBeLessThan(ENTRIES);
  expect(holds(r)).toEqual({ ringHolds: expect.any(Number), ringHoldsWaived: 0 });
  expect(holds(r).ringHolds).toBeGreaterThanOrEqual(1);
  expect(r.committedAtMs.size).toBe(ENTRIES);
  const member = r.cluster.members.get(r.follower)!;
  expect(member.node.appliedIndex).toBe(r.leader.node.appliedIndex);
  expect(member.entries.get(r.leader.node.appliedIndex)).toBe(`p${ENTRIES - 1}`);
});

test.each(SEEDS)('seed %i: a follower behind for longer than ringHoldMs is given up on once, then falls out and catches up', (seed) => {
  const cfg = { ...defaultConfig('sim'), slotCount: SLOTS, electionPollMs: 0, ringHoldMs: 1 };
  const r = start(seed, cfg, 'pause');
  // Paused for 3 ms: past the 1 ms hold, still within the failure detector's fuse (6 scans).
  const committedWhilePaused = pauseThenResume(r, 3, 200);

  expect(committedWhilePaused).toBe(ENTRIES);
  expect(holds(r)).toEqual({ ringHolds: 1, ringHoldsWaived: 1 });
  if (!r.cluster.log.some((l) => l.includes(`[${r.leader.id}] follower ${r.follower} still`) && l.includes('going on without it'))) {
    throw new Error(`no line tells that the leader went on without the follower; ${r.context()}`);
  }
  if (fellOut(r) !== 1) throw new Error(`${fellOut(r)} fall-outs, expected one; ${r.context()}`);
  const member = r.cluster.members.get(r.follower)!;
  expect(member.node.appliedIndex).toBe(r.leader.node.appliedIndex);
});

test.each(SEEDS)('seed %i: a crashed follower stalls the leader at most ringHoldMs', (seed) => {
  const cfg = { ...defaultConfig('sim'), slotCount: SLOTS, electionPollMs: 0, ringHoldMs: 6 };
  const r = start(seed, cfg, 'crash');
  runUntil(r.cluster, r.stoppedAtMs + 100);
  expect(r.committedAtMs.size).toBe(ENTRIES);
  // Proposed every PROPOSE_EVERY_MS; the only wait is one hold (plus a few fabric round trips).
  const lastProposedAtMs = r.stoppedAtMs + (ENTRIES - 1) * PROPOSE_EVERY_MS;
  const lastCommittedAtMs = Math.max(...r.committedAtMs.values());
  expect(lastCommittedAtMs - lastProposedAtMs).toBeLessThan(cfg.ringHoldMs + 1);
  expect(holds(r).ringHoldsWaived).toBeLessThanOrEqual(1);
});
