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
  const pairs: Array<[string, string]> = [
    ['mu_node_id', String(mu.selfId)],
    ['mu_role', mu.role],
    ['mu_leader_id', String(replica.noteLeader() ?? 0)],
    ['mu_applied_index', String(replica.engine.applied)],
    ['mu_failovers_seen', String(replica.failoversSeen)],
    ['mu_replicated_writes', String(lat.count)],
    ['mu_replication_p50_ns', String(lat.p50)],
    ['mu_replication_p99_ns', String(lat.p99)],
    ['mu_replication_max_ns', String(lat.max)],
  ];
  for (const [peer, state] of replica.peerStates()) pairs.push([`mu_peer_${peer}_state`, state]);
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
