/** Pure parts of the network namespaces (the `ip` commands, never run here) and of the soak verdict. */
import { cutCommands, cutKey, cutsBetween, netnsPlan, ownerPid, setupCommands, teardownCommands } from '../../loadgen/chaos/netns-plan';
import { nodeMemory, parseVmRssKiB, windows } from '../../loadgen/chaos/soak-verdict';

test('names are unique per pid and run, fit 15-character interface names, and map back to their owner', () => {
  const a = netnsPlan(4194303, 12, 7, [1, 2, 3]);
  const b = netnsPlan(4194303, 13, 8, [1, 2, 3]);
  expect(a.rootIf.length).toBeLessThanOrEqual(15);
  expect(a.rootIf).not.toBe(b.rootIf);
  expect(a.switchNs).not.toBe(b.switchNs);
  expect(a.nodeNs(1)).not.toBe(b.nodeNs(1));
  expect(ownerPid(a.nodeNs(3))).toBe(4194303);
  expect(ownerPid(a.switchNs)).toBe(4194303);
  expect(ownerPid('some-other-ns')).toBeNull();
  expect(a.nodeAddress(2)).toBe('10.77.7.2');
  expect(a.clientAddress).toBe('10.77.7.254');
  expect(() => netnsPlan(1, 1, 256, [1])).toThrow();
  expect(() => netnsPlan(1, 1, 0, [254])).toThrow();
});

test('setup makes only our namespaces, their veths and one root-side veth; teardown removes them all', () => {
  const p = netnsPlan(999, 1, 5, [1, 2, 3]);
  const setup = setupCommands(p);
  const rootScoped = setup.filter((c) => c[0] !== '-n' && c[0] !== 'netns');
  // Outside our namespaces only the root-side veth is created, addressed and brought up; the
  // node veths are created straight into our namespaces (both ends name one of them).
  const ours = [p.switchNs, ...p.ids.map(p.nodeNs)];
  for (const c of rootScoped) {
    if (c.join(' ').includes(p.rootIf)) continue;
    const targets = c.flatMap((x, i) => (x === 'netns' ? [c[i + 1]] : []));
    expect(targets).toHaveLength(2);
    for (const t of targets) expect(ours).toContain(t);
  }
  expect(rootScoped.some((c) => c.join(' ') === `addr add 10.77.5.254/24 dev ${p.rootIf}`)).toBe(true);
  for (const c of setup.filter((x) => x[0] === '-n')) expect(ours).toContain(c[1]);
  const made = setup.filter((c) => c[0] === 'netns' && c[1] === 'add').map((c) => c[2]);
  const removed = teardownCommands(p).filter((c) => c[0] === 'netns').map((c) => c[2]);
  expect(removed.sort()).toEqual(made.sort());
  expect(teardownCommands(p)).toContainEqual(['link', 'del', p.rootIf]);
});

test('a cut blackholes both directions inside the two node namespaces, and heals symmetrically', () => {
  const p = netnsPlan(999, 1, 5, [1, 2, 3]);
  expect(cutCommands(p, [1, 3], 'add')).toEqual([
    ['-n', p.nodeNs(1), 'route', 'add', 'blackhole', '10.77.5.3/32'],
    ['-n', p.nodeNs(3), 'route', 'add', 'blackhole', '10.77.5.1/32'],
  ]);
  expect(cutCommands(p, [1, 3], 'del').map((c) => c[3])).toEqual(['del', 'del']);
  expect(cutKey([3, 1])).toBe(cutKey([1, 3]));
  expect(cutsBetween([1], [2, 3]).map(cutKey)).toEqual(['1-2', '1-3']);
  expect(cutsBetween([1, 2], [3, 4]).map(cutKey).sort()).toEqual(['1-3', '1-4', '2-3', '2-4']);
});

test('VmRSS parses from /proc/PID/status', () => {
  expect(parseVmRssKiB('Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads: 7\n')).toBe(51234);
  expect(parseVmRssKiB('Name:\tkthreadd\n')).toBeNull();
});

test('soak verdict: flat or sawtooth memory passes, growth past 10% fails, a node without samples fails', () => {
  const durationMs = 180_000;
  const w = windows(durationMs);
  expect(w.warmupEndMs).toBe(36_000);
  expect(w.lastStartMs).toBe(135_000);
  const series = (f: (t: number) => number): Array<{ elapsedMs: number; rssKiB: number }> =>
    Array.from({ length: 37 }, (_, i) => ({ elapsedMs: i * 5000, rssKiB: f(i * 5000) }));
  // Warm-up growth does not count; a GC sawtooth of +-5% does not fail.
  expect(nodeMemory(1, series((t) => (t < 30_000 ? 40_000 + t : 80_000 * (1 + 0.05 * Math.sin(t / 7000)))), durationMs).passed).toBe(true);
  const leak = nodeMemory(2, series((t) => 80_000 + t * 0.2), durationMs);
  expect(leak.passed).toBe(false);
  expect(leak.changePct).toBeGreaterThan(10);
  expect(nodeMemory(3, [], durationMs).passed).toBe(false);
});
