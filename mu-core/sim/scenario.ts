/**
 * One seeded simulation run: a group of 3 or 5 nodes under a stream of proposals, with random
 * delays, reordered completions, torn writes, pauses (the old leader waking up), crashes of a
 * minority, planned leaves (resign, then usually exit and maybe come back empty, as a rolling
 * restart does; sometimes the resigned node keeps running), partitions (the leader cut off from
 * everyone, or one link cut) and ring overflow (state transfer). Then the faults stop, and the run must make progress
 * and every live node must hold every committed entry.
 */
import { SimCluster } from './cluster';
import { SLOT_HEADER_BYTES } from '../layout';
import { LostLeadershipError } from '../errors';
import { Rng } from './rng';

export interface ScenarioResult {
  seed: number;
  nodes: number;
  committed: number;
  steps: number;
  simulatedMs: number;
}

export class ScenarioFailure extends Error {
  constructor(readonly seed: number, cause: unknown, logTail: string[]) {
    super(
      `simulation seed ${seed} failed (replay: MU_SEED=${seed} npx jest mu-core/sim/replay.test.ts): ` +
        `${cause instanceof Error ? cause.message : String(cause)}` +
        (logTail.length > 0 ? `\n--- last log lines ---\n${logTail.join('\n')}` : ''),
    );
    if (cause instanceof Error && cause.stack) this.stack = `${this.message}\n${cause.stack}`;
  }
}

const FAULT_PHASE_MS = 60;
const CALM_PHASE_MS = 30;
const FINAL_DEADLINE_MS = 80;
const SETTLE_MS = 45;
const MAX_STEPS = 400_000;

export function runScenario(seed: number, keepLog = false): ScenarioResult {
  const rng = new Rng(seed);
  const n = rng.chance(0.7) ? 3 : 5;
  const cfg = SimCluster.defaults(rng);
  const cluster = new SimCluster(rng, n, cfg, {
    minMs: 0.002, maxMs: rng.pick([0.02, 0.1, 0.4]), spikeChance: rng.pick([0, 0.005, 0.02]), spikeMaxMs: 4, tornChance: 0.2,
  }, keepLog);
  const world = cluster.world;
  // Half the seeds see a crashed node as gone at once (the whole fuse), the others as silent.
  world.crashedAnswerGone = rng.chance(0.5);
  const note = (m: string) => { if (keepLog) cluster.log.push(`${world.now.toFixed(3)} SIM ${m}`); };
  const failure = (cause: unknown) => new ScenarioFailure(seed, cause, cluster.log.slice(-Number(process.env.MU_LOG_LINES ?? 60)));
  let failed = false;
  try {
    for (const id of cluster.ids) world.schedule(rng.next() * 3, null, () => cluster.start(id));

    let nextPayload = 0;
    let outstanding = 0;
    // Its own stream, so that sizes do not shift the fault draws of a seed: about a third of the
    // entries are larger than one slot and go in parts (layout.ts), up to the largest entry.
    const sizes = new Rng(seed * 7919 + 17);
    const propose = (tag: string) => {
      const target = cluster.leader() ?? cluster.members.get(rng.pick(cluster.live()));
      if (target === undefined) return;
      const name = `${tag}${nextPayload++}`;
      const oneSlot = cfg.slotBytes - SLOT_HEADER_BYTES;
      const payload = sizes.chance(0.35) ? name.padEnd(sizes.int(oneSlot + 1, target.node.maxPayloadBytes), '.') : name;
      const node = target.id;
      outstanding++;
      // The client runs on the proposing node: schedule it there so a paused node cannot propose.
      world.schedule(0, node, () => {
        const floor = cluster.checker.floorFor(node);
        const afterResign = target.node.resigned;
        target.node.proposeCb(Buffer.from(payload), (err, index, proposal) => {
          outstanding--;
          if (err === null) cluster.checker.onCommitted(node, payload, index, proposal, floor, afterResign);
          else if (err instanceof LostLeadershipError) cluster.checker.onLost(node, payload, err.entryIndex);
        });
      });
    };
    const clientTick = () => {
      if (world.now > FAULT_PHASE_MS + CALM_PHASE_MS) return;
      if (outstanding < 6) {
        const burst = rng.int(1, 3);
        for (let k = 0; k < burst; k++) propose('e');
      }
      world.schedule(rng.next() * 1.5, null, clientTick);
    };
    world.schedule(2, null, clientTick);

    const maxCrashes = Math.floor((n - 1) / 2);
    const down = new Set<number>();
    // Told to resign (counted from the decision: a paused node resigns only once it wakes up).
    const leaving = new Set<number>();
    // Down, leaving, or restarted and not yet synced (amnesic): a majority must stay out of this,
    // else the group's memory is gone (Mu keeps the log in memory only).
    const unavailable = () => cluster.ids.filter((id) => down.has(id) || leaving.has(id) || !cluster.members.get(id)?.node.voter).length;
    const paused = new Set<number>();
    const faultTick = () => {
      if (world.now > FAULT_PHASE_MS) return;
      const live = cluster.live();
      const r = rng.next();
      const victim = rng.chance(0.5) && cluster.leader() ? cluster.leader()!.id : rng.pick(live);
      if (r < 0.45 && !paused.has(victim)) {
        paused.add(victim);
        world.pause(victim);
        note(`pause ${victim}`);
        world.schedule(rng.pick([0.5, 2, 6, 15, 30]) * rng.next(), null, () => {
          if (!paused.delete(victim)) return;
          world.resume(victim);
          note(`resume ${victim}`);
          cluster.checker.onResume(victim);
        });
      } else if (r < 0.52 && !down.has(victim) && !leaving.has(victim) && unavailable() < maxCrashes) {
        // Planned leave: SIGTERM reaches the node's own code (held while it is paused).
        const member = cluster.members.get(victim)!;
        leaving.add(victim);
        world.schedule(0, victim, () => member.node.resign());
        note(`resign ${victim}`);
        if (rng.chance(0.8)) {
          world.schedule(rng.next() * 6, null, () => {
            if (cluster.members.get(victim) !== member) return;
            down.add(victim);
            paused.delete(victim);
            cluster.crash(victim);
            note(`exit ${victim} after resigning`);
            if (rng.chance(0.6)) {
              world.schedule(rng.next() * 10, null, () => {
                down.delete(victim);
                leaving.delete(victim);
                cluster.restart(victim);
                note(`restart ${victim} empty`);
              });
            }
          });
        }
      } else if (r < 0.6 && !down.has(victim) && unavailable() < maxCrashes) {
        down.add(victim);
        paused.delete(victim);
        cluster.crash(victim);
        note(`crash ${victim}`);
        if (rng.chance(0.5)) {
          // Some come back empty, as a restarted process.
          world.schedule(rng.next() * 20, null, () => {
            down.delete(victim);
            cluster.restart(victim);
            note(`restart ${victim} empty`);
          });
        }
      }
      world.schedule(rng.next() * 12, null, faultTick);
    };
    world.schedule(5 + rng.next() * 10, null, faultTick);

    // Partitions, drawn from their own stream (the other faults of a seed stay as they were): the
    // leader cut off from every other node (it must step down, the rest elect), or one link cut.
    const cuts = new Rng(seed * 104729 + 3);
    const cutLinks: Array<[number, number]> = [];
    const partitionTick = () => {
      if (world.now > FAULT_PHASE_MS) return;
      const live = cluster.live();
      const leader = cluster.leader();
      const isolate = leader !== undefined && cuts.chance(0.5) ? leader.id : null;
      const links: Array<[number, number]> = isolate !== null
        ? cluster.ids.filter((id) => id !== isolate).map((id) => [isolate, id])
        : live.length >= 2 ? [[live[0], live[1 + cuts.int(0, live.length - 2)]]] : [];
      for (const [a, b] of links) {
        world.cut(a, b);
        cutLinks.push([a, b]);
      }
      if (links.length > 0) note(isolate !== null ? `cut ${isolate} off` : `cut ${links[0][0]}-${links[0][1]}`);
      world.schedule(cuts.pick([1, 5, 15, 30]) * cuts.next(), null, () => {
        for (const [a, b] of links) world.heal(a, b);
        if (links.length > 0) note('heal links');
      });
      world.schedule(5 + cuts.next() * 25, null, partitionTick);
    };
    if (cuts.chance(0.5)) world.schedule(5 + cuts.next() * 20, null, partitionTick);

    // Heal: every paused node wakes up and every link comes back when the fault phase ends.
    world.schedule(FAULT_PHASE_MS + 0.001, null, () => {
      for (const [a, b] of cutLinks.splice(0)) world.heal(a, b);
      for (const id of [...paused]) {
        paused.delete(id);
        world.resume(id);
        note(`heal: resume ${id}`);
        cluster.checker.onResume(id);
      }
    });

    const end = FAULT_PHASE_MS + CALM_PHASE_MS;
    runUntil(cluster, () => world.now >= end);

    // Liveness: with a majority alive and connected, a new proposal commits within the deadline.
    const committedBefore = cluster.checker.committed.size;
    let finalCommitted = false;
    let finalPayload = 0;
    const finalTry = () => {
      if (finalCommitted) return;
      const leader = cluster.leader();
      if (leader !== undefined) {
        const payload = `final${finalPayload++}`;
        const floor = cluster.checker.floorFor(leader.id);
        leader.node.proposeCb(Buffer.from(payload), (err, index, proposal) => {
          if (err !== null) return;
          cluster.checker.onCommitted(leader.id, payload, index, proposal, floor);
          finalCommitted = true;
        });
      }
      world.schedule(2, null, finalTry);
    };
    world.schedule(0, null, finalTry);
    const deadline = end + FINAL_DEADLINE_MS;
    runUntil(cluster, () => finalCommitted || world.now >= deadline);
    if (!finalCommitted) throw new Error(`no progress: nothing committed within ${FINAL_DEADLINE_MS} ms after the faults ended (committed so far: ${committedBefore})`);

    // Let the commit point and state transfers reach everyone, then compare. A state transfer takes
    // five network delays (sim/cluster.ts), each up to spikeMaxMs (4 ms) in a latency spike, and a
    // follower may need a second one when the first arrives behind the ring.
    const settle = world.now + SETTLE_MS;
    runUntil(cluster, () => world.now >= settle);
    cluster.checker.checkComplete(cluster.live(), (id) => cluster.members.get(id)!.node.appliedIndex);
    return { seed, nodes: n, committed: cluster.checker.committed.size, steps: world.steps, simulatedMs: world.now };
  } catch (e) {
    failed = true;
    throw failure(e);
  } finally {
    // Stopping answers the proposals still open, and the checker judges those answers too. After a
    // failure its verdict must not replace the first one (an exception thrown here would, and the
    // seed with it); without one, it is a failure of this seed like any other.
    for (const m of cluster.members.values()) {
      try {
        m.node.stop();
      } catch (e) {
        if (!failed) throw failure(e);
      }
    }
  }
}

function runUntil(cluster: SimCluster, done: () => boolean): void {
  const world = cluster.world;
  while (!done()) {
    if (world.steps > MAX_STEPS) throw new Error(`step budget exhausted at ${world.now.toFixed(3)} ms`);
    if (!world.step()) throw new Error('event queue ran dry');
  }
}
