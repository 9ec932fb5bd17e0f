/**
 * Short chaos runs against real processes on the shm fabric: a 3-node and a 5-node cluster under
 * concurrent clients with SIGKILL of the leader and of a follower, SIGSTOP of the leader and a
 * graceful restart with rejoin, and the loss of a majority of followers (killed, restarted empty);
 * no acknowledged write lost, a linearizable history (with --reads linearizable, the reads included).
 */
import { PROCESS_FAULT_KINDS } from '../../loadgen/chaos/schedule';
import { shortRun } from './short-run';

jest.setTimeout(170_000);

test('a short 3-node chaos run loses no acknowledged write and checks out linearizable', async () => {
  await shortRun({ fabric: 'shm', nodes: 3, kinds: [...PROCESS_FAULT_KINDS], durationMs: 25_000 });
});

test('with --reads linearizable, the gets check out linearizable too, on every node, through the same faults', async () => {
  const r = await shortRun({ fabric: 'shm', nodes: 3, kinds: [...PROCESS_FAULT_KINDS], durationMs: 20_000, reads: 'linearizable' });
  // Every get was held to the check (none recorded as a weak local read).
  expect(r.check.weakReads).toBe(0);
  expect(r.history.filter((op) => op.kind === 'get' && op.returnMs !== Infinity).length).toBeGreaterThan(100);
});

test('a short 5-node chaos run loses no acknowledged write and checks out linearizable', async () => {
  // lose-majority included: 3 of 5 nodes killed and restarted empty, synced into the suspended term.
  const r = await shortRun({ fabric: 'shm', nodes: 5, kinds: [...PROCESS_FAULT_KINDS], durationMs: 20_000 });
  // Restarted nodes rejoin: every restart measured a rejoin (the node served the probe's write).
  for (const f of r.faults.filter((x) => x.kind !== 'stop-leader')) expect(f.rejoinMs).not.toBeNull();
});
