/**
 * A short partition run: 3 nodes on the tcp fabric, each in its own network namespace, with the
 * leader cut off from its followers (clients still reach it), a follower cut off, and a split-brain
 * bridge. Writes sent straight to a cut-off old leader must never be acknowledged; nothing
 * acknowledged may be lost; the history must be linearizable; every namespace is gone afterwards.
 * Needs root and `ip netns` (CI runs as root); without them the test is skipped with the reason.
 */
import { spawnSync } from 'child_process';
import { netnsUnavailable } from '../../loadgen/chaos/netns';
import { PARTITION_FAULT_KINDS } from '../../loadgen/chaos/schedule';
import { shortRun } from './short-run';

jest.setTimeout(170_000);

const why = netnsUnavailable();
if (why !== null) process.stdout.write(`partition-run.test.ts: SKIPPED: ${why}\n`);
const maybe = why === null ? test : test.skip;

maybe('partitions on a 3-node tcp cluster in namespaces: old leader never acknowledges, nothing lost, linearizable', async () => {
  const r = await shortRun({ fabric: 'tcp', nodes: 3, kinds: [...PARTITION_FAULT_KINDS], durationMs: 25_000 });
  const leaderCuts = r.faults.filter((f) => f.kind === 'partition-leader');
  expect(leaderCuts.length).toBeGreaterThan(0);
  for (const f of leaderCuts) expect(f.oldLeaderWrites?.acked).toBe(0);
  expect(leaderCuts.reduce((n, f) => n + (f.oldLeaderWrites?.refused ?? 0) + (f.oldLeaderWrites?.unknown ?? 0), 0)).toBeGreaterThan(0);
  const left = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  expect(left).not.toContain(`mux${process.pid}x`);
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  expect(ns).not.toContain(`mucx-${process.pid}-`);
});
