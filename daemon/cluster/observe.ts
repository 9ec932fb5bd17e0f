/**
 * What operators see of replication: the `stats mu` group, one log line per role change, and the
 * SIGUSR1 dump of leader-side replication latencies (dump-<id>.txt, ns per line, as the old tools).
 */
import * as fs from 'fs';
import type { Logger } from '../log';
import type { Replica } from './replica';

export function muStats(replica: Replica): Array<[string, string]> {
  const mu = replica.mu;
  const lat = replica.latencyPercentilesNs();
  const progress = mu.progress;
  const pairs: Array<[string, string]> = [
    ['mu_node_id', String(mu.selfId)],
    ['mu_role', mu.role],
    ['mu_leader_id', String(replica.noteLeader() ?? 0)],
    ['mu_proposal', String(progress.proposal)],
    ['mu_commit_index', String(progress.commitIndex)],
    ['mu_applied_index', String(replica.engine.applied)],
    // 0 while restarted empty (or starting) and not yet synced by a leader: reads wait for a fence.
    ['mu_synced', mu.historySynced ? '1' : '0'],
    ['mu_failovers_seen', String(replica.failoversSeen)],
    // Forwarded writes whose leader was lost mid-write: sent again (here, as follower), and copies
    // answered from the log's record or joined to the decision in flight (here, as leader).
    ['mu_forwards_resent', String(replica.engine.forwardCounts.resent)],
    ['mu_forwards_answered_from_record', String(replica.engine.forwardCounts.answeredFromRecord)],
    ['mu_forwards_joined_in_flight', String(replica.engine.forwardCounts.joinedInFlight)],
    ['mu_outcome_records', String(replica.engine.outcomes.size)],
    // Our clients' writes whose entry was undecided when this node lost the lead: committed after
    // all, decided again (never took effect), or answered "outcome unknown".
    ['mu_lost_lead_writes_applied', String(replica.engine.lostWriteCounts.applied)],
    ['mu_lost_lead_writes_decided_again', String(replica.engine.lostWriteCounts.decidedAgain)],
    ['mu_lost_lead_writes_unknown', String(replica.engine.lostWriteCounts.unknown)],
    // --reads linearizable: reads that waited for a fence, and the fences they shared.
    ['mu_linearizable_reads', String(replica.engine.reads.reads)],
    ['mu_read_fences', String(replica.engine.reads.fences)],
    ['mu_replicated_writes', String(lat.count)],
    ['mu_replication_p50_ns', String(lat.p50)],
    ['mu_replication_p99_ns', String(lat.p99)],
    ['mu_replication_max_ns', String(lat.max)],
  ];
  // Per peer: the fabric's link state and the peer link's; on the leader also the follower's
  // replication state, what it holds and applied, and its lag (entries committed that it has not
  // applied yet).
  const followers = new Map(progress.followers.map((f) => [f.peer, f]));
  for (const [peer, state] of replica.peerStates()) {
    pairs.push([`mu_peer_${peer}_state`, state]);
    // The daemons' own link to it (forwarded writes, snapshots), kept open while it is up.
    pairs.push([`mu_peer_${peer}_link`, replica.peerLinkUp(peer) ? 'up' : 'down']);
    // tcp: its death herald's connection to us; without it its death is known only once its
    // kernel has torn it down (binding/src/herald.h).
    const herald = replica.heraldConnected(peer);
    if (herald !== undefined) pairs.push([`mu_peer_${peer}_herald`, herald ? 'connected' : 'none']);
    const f = followers.get(peer);
    if (f === undefined) continue;
    pairs.push([`mu_peer_${peer}_replication`, f.state]);
    pairs.push([`mu_peer_${peer}_acked_index`, String(f.ackedIndex)]);
    pairs.push([`mu_peer_${peer}_applied_index`, String(f.appliedIndex)]);
    pairs.push([`mu_peer_${peer}_lag`, String(Math.max(0, progress.commitIndex - f.appliedIndex))]);
    // Episodes of new entries held back so it would not fall out of the ring, and those given up.
    pairs.push([`mu_peer_${peer}_ring_holds`, String(f.ringHolds)]);
    pairs.push([`mu_peer_${peer}_ring_holds_waived`, String(f.ringHoldsWaived)]);
    // no: it restarted empty since this term began, and its acks wait until the term proves current.
    pairs.push([`mu_peer_${peer}_acks_count`, f.countsTowardCommits ? 'yes' : 'no']);
  }
  return pairs;
}

/** Logs every change of role or leader, polled (Mu decides; the daemon only reports). */
export function watchRole(replica: Replica, log: Logger): void {
  let last = '';
  const timer = setInterval(() => {
    const leader = replica.noteLeader();
    const now = `${replica.mu.role}/${leader ?? 'none'}`;
    if (now === last) return;
    last = now;
    if (replica.mu.role === 'leader') log.info(`became leader (node ${replica.mu.selfId})`);
    else log.info(`${replica.mu.role}; leader is ${leader === null ? 'unknown' : `node ${leader}`}`);
  }, 5);
  timer.unref();
}

export function writeLatencyDump(replica: Replica): string {
  const file = `dump-${replica.mu.selfId}.txt`;
  fs.writeFileSync(file, replica.latencySamplesNs().map((n) => `${n}\n`).join(''));
  return file;
}
