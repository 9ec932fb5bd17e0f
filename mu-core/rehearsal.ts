/**
 * A take-over rehearsed at start-up on the simulated fabric (sim/), before the node joins its real
 * group. A follower runs the code of a fail-over (prepare's reads, recovery, a new term, streaming
 * to a follower, a restarted member's catch-up) for the first time when its leader dies. Run cold,
 * every property access of that code misses its inline cache and goes through V8's runtime:
 * main-st-failover on shm measured 0.3-0.7 ms per phase on a node that never led, against about
 * 0.1 ms on one that had led once. The rehearsal runs those paths in this process on throwaway
 * nodes, so V8 has type feedback for them when it counts. It touches no real fabric, no timer and
 * no state outside its own simulated group, and it is deterministic (fixed seeds). Optional, and a
 * trade: the simulated fabric's objects and callbacks make call sites of the replication path
 * polymorphic (mu-core/README.md, "Fail-over, step by step", has the measurements).
 */
import { defaultConfig } from './config';
import type { SimCluster } from './sim/cluster';
import { quietGroupWithLeader, runUntil } from './sim/quiet-group';

/** Entries proposed in each term of the rehearsal. */
const ENTRIES_PER_TERM = 24;

export interface RehearsalResult {
  /** Take-overs completed (a new leader committed after the old one crashed). */
  takeOvers: number;
  /** Members restarted empty that caught up again. */
  rejoins: number;
}

/** Proposes `count` entries through the current leader and runs until all are decided; returns how many committed. */
function commitThroughLeader(cluster: SimCluster, count: number, tag: string): number {
  const leader = cluster.leader();
  if (leader === undefined) return 0;
  let decided = 0;
  let committed = 0;
  for (let i = 0; i < count; i++) {
    leader.node.proposeCb(Buffer.from(`${tag}-${i}`), (err) => {
      decided++;
      if (err === null) committed++;
    });
  }
  runUntil(cluster, cluster.world.now + 200, () => decided === count);
  return committed;
}

/**
 * Rounds of: commit entries, crash the leader (node 1, the lowest id), let the next one prepare and
 * commit, restart the crashed member empty and let it catch up. Each round is a fresh group: the
 * take-over code runs more than once, so its type feedback is not that of a single call.
 */
export function rehearseTakeOver(rounds = 2): RehearsalResult {
  let takeOvers = 0;
  let rejoins = 0;
  for (let round = 0; round < rounds; round++) {
    const { cluster, leader } = quietGroupWithLeader(0x5eed + round, defaultConfig('sim'), 3);
    commitThroughLeader(cluster, ENTRIES_PER_TERM, 'before');
    cluster.crash(leader.id);
    runUntil(cluster, cluster.world.now + 300, () => {
      const next = cluster.leader();
      return next !== undefined && next.id !== leader.id;
    });
    if (commitThroughLeader(cluster, ENTRIES_PER_TERM, 'after') === ENTRIES_PER_TERM) takeOvers++;
    cluster.restart(leader.id);
    const target = cluster.leader()?.node.progress.commitIndex ?? Infinity;
    const caughtUp = () => (cluster.members.get(leader.id)?.node.appliedIndex ?? 0) >= target;
    runUntil(cluster, cluster.world.now + 300, caughtUp);
    if (caughtUp()) rejoins++;
    for (const id of cluster.live()) cluster.crash(id);
  }
  return { takeOvers, rejoins };
}
