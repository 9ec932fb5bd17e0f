/**
 * For focused simulation tests (not the randomized simulation): a group on a quiet fabric (small
 * delays, no spikes, no torn writes), started at once and run until one node leads, and a bounded
 * run of simulated time. Seeded; the protocol's log is kept for failure messages.
 */
import type { MuConfig } from '../config';
import { SimCluster, SimMember } from './cluster';
import { Rng } from './rng';

/** Steps the simulation until `untilMs` of simulated time or `done()`, at most `maxSteps` steps. */
export function runUntil(cluster: SimCluster, untilMs: number, done: () => boolean = () => false, maxSteps = 5_000_000): void {
  const world = cluster.world;
  for (let i = 0; i < maxSteps && world.nextTime <= untilMs && !done(); i++) world.step();
}

/** `n` nodes on a quiet fabric, none started yet. */
export function quietCluster(seed: number, cfg: MuConfig, n = 3): SimCluster {
  return new SimCluster(new Rng(seed), n, cfg, { minMs: 0.002, maxMs: 0.02, spikeChance: 0, spikeMaxMs: 0, tornChance: 0 }, true);
}

/** `n` nodes started at time 0, run until one leads (and 50 ms passed); throws with the log if none does. */
export function quietGroupWithLeader(seed: number, cfg: MuConfig, n = 3): { cluster: SimCluster; leader: SimMember } {
  const cluster = quietCluster(seed, cfg, n);
  const world = cluster.world;
  for (const id of cluster.ids) world.schedule(0, null, () => cluster.start(id));
  runUntil(cluster, 500, () => cluster.leader() !== undefined && world.now > 50);
  const leader = cluster.leader();
  if (leader === undefined) throw new Error(`seed ${seed}: no leader\n${cluster.log.slice(-30).join('\n')}`);
  return { cluster, leader };
}

/** A proposal on node `id`; the returned object holds its outcome once settled (index -1 until then). */
export function proposeAt(c: SimCluster, id: number, payload: string, then?: () => void): { err: Error | null; index: number } {
  const out = { err: null as Error | null, index: -1 };
  c.members.get(id)!.node.proposeCb(Buffer.from(payload), (err, index) => {
    out.err = err;
    out.index = index;
    then?.();
  });
  return out;
}
