/**
 * The fault's probes. Their writes join the history, so the checker holds them to the same rules
 * as the clients' (an acknowledged probe write that is later lost is a violation like any other).
 * - failover: from the fault on, sets through the nodes not at fault until one is acknowledged.
 * - old leader: while a leader is cut off from its followers, sets straight to it; they must fail,
 *   time out or be refused (an acknowledgement there is suspect: the checker decides if it was lost).
 * - rejoin: after a restart, reads on the restarted node until it serves the last acknowledged probe
 *   value, or what the leader serves (it has caught up).
 */
import { ChaosCluster } from './chaos-cluster';
import { Op } from './history';
import { RequestFailed, TextConnection, exchangeOnce, parseValueReply } from './text-client';
import { Recorder, nowMs } from './workload';

export const PROBE_KEY = 'chaosprobe';
const PROBE_TIMEOUT_MS = 250;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type WriteOutcome = 'acked' | 'refused' | 'unknown';

/** One set of a fresh unique value on PROBE_KEY through node `id`, recorded in the history. */
async function probeSet(cluster: ChaosCluster, id: number, rec: Recorder, client: number, label: string): Promise<{ outcome: WriteOutcome; value: string }> {
  const c = cluster.node(id).client;
  const value = String(1_000_000 * rec.nextValue++);
  const op: Op = { id: rec.nextId++, client, key: PROBE_KEY, kind: 'set', value, invokeMs: nowMs(rec), returnMs: Infinity, note: `${label} via node ${id}` };
  let conn: TextConnection | null = null;
  try {
    conn = await TextConnection.open(c.port, PROBE_TIMEOUT_MS, c.host);
    op.invokeMs = nowMs(rec);
    const reply = await conn.request(`set ${PROBE_KEY} 0 0 ${value.length}\r\n${value}\r\n`, false, PROBE_TIMEOUT_MS);
    if (reply === 'STORED\r\n') {
      rec.ops.push({ ...op, returnMs: nowMs(rec), result: 'STORED' });
      return { outcome: 'acked', value };
    }
    // An error reply may still have taken effect (e.g. a forwarded write that timed out): unknown.
    rec.ops.push({ ...op, note: `${op.note}; ${reply.trim()}` });
    return { outcome: 'refused', value };
  } catch (e) {
    if (e instanceof RequestFailed && e.sent) rec.ops.push({ ...op, note: `${op.note}; ${e.message}` });
    return { outcome: 'unknown', value };
  } finally {
    conn?.close();
  }
}

/** ms from `fromMs` to the first acknowledged write through `via` (round-robin), null if none within boundMs. */
export async function probeFailover(cluster: ChaosCluster, via: number[], rec: Recorder, fromMs: number, boundMs: number): Promise<{ ms: number; value: string } | null> {
  for (let attempt = 0; attempt < 10_000 && nowMs(rec) - fromMs < boundMs; attempt++) {
    const r = await probeSet(cluster, via[attempt % via.length], rec, -2, 'fail-over probe');
    if (r.outcome === 'acked') return { ms: nowMs(rec) - fromMs, value: r.value };
    await sleep(1);
  }
  return null;
}

/** Writes to the cut-off old leader until `until()`; counts the outcomes. */
export async function probeOldLeader(cluster: ChaosCluster, oldLeader: number, rec: Recorder, until: () => boolean): Promise<Record<WriteOutcome, number>> {
  const counts: Record<WriteOutcome, number> = { acked: 0, refused: 0, unknown: 0 };
  for (let attempt = 0; attempt < 1000 && !until(); attempt++) {
    counts[(await probeSet(cluster, oldLeader, rec, -3, 'old-leader probe')).outcome]++;
    await sleep(20);
  }
  return counts;
}

/**
 * ms from `fromMs` until node `id` has caught up on PROBE_KEY, null if not within boundMs: it
 * serves `value` or a later probe value (probe values grow), or the value the leader serves. The
 * last one covers a probe write of unknown outcome (its client gave up) that a leader held through
 * a suspension and decided after the acknowledged one: legal for a write whose outcome is unknown,
 * and then the acknowledged value is gone from every node, overwritten by the older one.
 */
export async function probeRejoin(cluster: ChaosCluster, id: number, value: string, rec: Recorder, fromMs: number, boundMs: number): Promise<number | null> {
  const read = async (node: number): Promise<string | null> => {
    const c = cluster.node(node).client;
    const seen = await exchangeOnce(c.host, c.port, `get ${PROBE_KEY}\r\n`, true, PROBE_TIMEOUT_MS).then(parseValueReply, () => null);
    return seen?.value ?? null;
  };
  for (let attempt = 0; attempt < 10_000 && nowMs(rec) - fromMs < boundMs; attempt++) {
    const seen = await read(id);
    if (seen !== null && Number(seen) >= Number(value)) return nowMs(rec) - fromMs;
    // Now and then, ask the leader what it holds (a stats round on every node: not every attempt).
    if (seen !== null && attempt % 20 === 19) {
      const leader = await cluster.agreedLeader(PROBE_TIMEOUT_MS, false);
      if (leader !== null && leader !== id && (await read(leader)) === seen) return nowMs(rec) - fromMs;
    }
    await sleep(5);
  }
  return null;
}
