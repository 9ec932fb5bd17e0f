/**
 * Pure parts of the cluster benchmarks: the config the bench writes (checked by the daemon's own
 * validator), `stats mu` parsing and leader agreement, dump-<id>.txt parsing, the per-row targets,
 * the replication table and plot, and the bench/compare argument defaults.
 */
import * as hdr from 'hdr-histogram-js';
import { validateConfig } from '../../daemon/cluster-config';
import { parseBenchArgs } from '../../loadgen/bench';
import { benchMarkdown, plotSeriesFor, replicationRows } from '../../loadgen/bench-report';
import { medianRows, medianTable, targetFor, verdict } from '../../loadgen/bench-table';
import { agreedLeader, clusterConfigJson, muView, parseStats } from '../../loadgen/cluster-config';
import { percentilePlotSvg } from '../../loadgen/plot-svg';
import { lastSamples, parseDump, recordSamples, replicationHistogram, replicationSummary } from '../../loadgen/replication-dump';
import { makeRng } from '../../loadgen/rng';
import { TEST_SEED } from './support';

const ports = [1, 2, 3].map((id) => ({ id, clientPort: 20000 + id, fabricPort: 21000 + id, peerPort: 22000 + id }));

describe('cluster config', () => {
  test('is a config the daemon accepts, with our ports, fabric, name and secret', () => {
    for (const fabric of ['shm', 'tcp'] as const) {
      const c = validateConfig(JSON.parse(clusterConfigJson('bench-1-ab', fabric, 's3cret', ports)), 'test');
      expect(c.fabric.kind).toBe(fabric);
      expect(c.cluster).toBe('bench-1-ab');
      expect(c.secret).toBe('s3cret');
      expect(c.nodes.map((n) => [n.id, n.host, n.clientPort, n.fabricPort, n.peerPort])).toEqual(ports.map((p) => [p.id, '127.0.0.1', p.clientPort, p.fabricPort, p.peerPort]));
    }
  });

  test('refuses a bad name or duplicate ids', () => {
    expect(() => clusterConfigJson('has space', 'shm', 's', ports)).toThrow(/cluster name/);
    expect(() => clusterConfigJson('ok', 'shm', 's', [ports[0], ports[0]])).toThrow(/distinct/);
  });
});

describe('stats mu and the leader', () => {
  const reply = 'STAT mu_node_id 2\r\nSTAT mu_role follower\r\nSTAT mu_leader_id 1\r\nSTAT mu_replicated_writes 0\r\nSTAT mu_peer_1_state connected\r\nEND\r\n';

  test('parses STAT lines and the view', () => {
    const s = parseStats(reply);
    expect(s.get('mu_peer_1_state')).toBe('connected');
    expect(muView(s)).toEqual({ role: 'follower', leaderId: 1, replicatedWrites: 0 });
    expect(muView(parseStats('ERROR\r\n'))).toEqual({ role: '', leaderId: 0, replicatedWrites: 0 });
  });

  test('a leader counts only when it alone leads and every node names it', () => {
    const v = (role: string, leaderId: number) => muView(new Map([['mu_role', role], ['mu_leader_id', String(leaderId)]]));
    expect(agreedLeader([{ id: 1, view: v('leader', 1) }, { id: 2, view: v('follower', 1) }, { id: 3, view: v('follower', 1) }])).toBe(1);
    expect(agreedLeader([{ id: 1, view: v('leader', 1) }, { id: 2, view: v('follower', 1) }, { id: 3, view: v('follower', 0) }])).toBeNull();
    expect(agreedLeader([{ id: 1, view: v('leader', 1) }, { id: 2, view: v('leader', 2) }, { id: 3, view: v('follower', 1) }])).toBeNull();
    expect(agreedLeader([{ id: 1, view: v('leader', 1) }, { id: 2, view: null }, { id: 3, view: v('follower', 1) }])).toBeNull();
    expect(agreedLeader([{ id: 1, view: v('candidate', 0) }, { id: 2, view: v('follower', 0) }])).toBeNull();
    expect(agreedLeader([])).toBeNull();
  });
});

describe('dump-<id>.txt', () => {
  test('one ns value per line, final newline optional, anything else named by line', () => {
    expect(parseDump('1200\n15000\n7\n')).toEqual([1200, 15000, 7]);
    expect(parseDump('5')).toEqual([5]);
    expect(parseDump('')).toEqual([]);
    expect(() => parseDump('10\n-3\n', 'dump-1.txt')).toThrow('dump-1.txt:2: expected a latency in ns, got "-3"');
    expect(() => parseDump('10\n\n11\n')).toThrow(/:2:/);
    expect(() => parseDump('1.5\n')).toThrow(/:1:/);
  });

  test('a run takes the last n samples, never more than the dump holds', () => {
    expect(lastSamples([1, 2, 3, 4], 2)).toEqual([3, 4]);
    expect(lastSamples([1, 2], 5)).toEqual([1, 2]);
    expect(lastSamples([1, 2], 0)).toEqual([]);
    expect(lastSamples([1, 2], -1)).toEqual([]);
  });

  test('summary percentiles', () => {
    const h = replicationHistogram();
    recordSamples(h, Array.from({ length: 1000 }, (_, i) => (i + 1) * 1000));
    const s = replicationSummary(h);
    expect(s.count).toBe(1000);
    expect(s.p50Ns).toBeGreaterThanOrEqual(499_000);
    expect(s.p50Ns).toBeLessThanOrEqual(501_000);
    expect(s.p99Ns).toBeGreaterThanOrEqual(989_000);
    expect(s.maxNs).toBeGreaterThanOrEqual(999_000);
    expect(replicationSummary(replicationHistogram()).count).toBe(0);
  });
});

describe('targets per row', () => {
  const rows = medianRows([
    { workload: 'puts-only', system: 'memcached', throughputPerSec: [100], p50Ns: [100_000], p99Ns: [200_000], errors: [0] },
    { workload: 'puts-only', system: 'mucached-3-shm', throughputPerSec: [50], p50Ns: [114_000], p99Ns: [290_000], errors: [0] },
    { workload: 'puts-only', system: 'mucached-3-tcp', throughputPerSec: [100], p50Ns: [116_000], p99Ns: [200_000], errors: [0] },
    { workload: 'gets-only', system: 'memcached', throughputPerSec: [100], p50Ns: [100_000], p99Ns: [200_000], errors: [0] },
    { workload: 'gets-only', system: 'mucached-3-shm', throughputPerSec: [50], p50Ns: [100_000], p99Ns: [200_000], errors: [0] },
  ]);

  test('a cluster puts-only row is the replicated set (issue 5); its reads are judged like a single node', () => {
    expect(targetFor('memcached', 'puts-only')).toBeNull();
    expect(targetFor('mucached-3-shm', 'puts-only')).toMatchObject({ maxP50Ratio: 1.15, maxP99Ratio: 1.5 });
    expect(targetFor('mucached-3-tcp', 'gets-only')).toMatchObject({ minThroughputRatio: 0.7, maxP50Ratio: 1.2 });
    expect(targetFor('mucached', 'puts-only')).toMatchObject({ minThroughputRatio: 0.7 });
    // Half memcached's throughput is no failure for a replicated set: its target bounds latency.
    expect(verdict(rows[1], targetFor(rows[1].system, rows[1].workload))).toBe('meets target');
    expect(verdict(rows[2], targetFor(rows[2].system, rows[2].workload))).toBe('BELOW TARGET');
    expect(verdict(rows[4], targetFor(rows[4].system, rows[4].workload))).toBe('BELOW TARGET');
    expect(verdict({ ...rows[1], errors: 1 }, targetFor('mucached-3-shm', 'puts-only'))).toBe('BELOW TARGET');
    expect(verdict({ ...rows[1], p99Ratio: 1.51 }, targetFor('mucached-3-shm', 'puts-only'))).toBe('BELOW TARGET');
    const table = medianTable(rows).split('\n');
    expect(table[3]).toMatch(/mucached-3-shm .* 0\.50x +1\.14x +1\.45x +<=1\.15x p50, <=1\.5x p99 +meets target$/);
  });
});

describe('replication in the report', () => {
  const rng = makeRng(TEST_SEED);
  const e2e = hdr.build({ numberOfSignificantValueDigits: 3 });
  for (let i = 0; i < 5000; i++) e2e.recordValue(90_000 + rng.below(20_000));
  const base = hdr.build({ numberOfSignificantValueDigits: 3 });
  for (let i = 0; i < 5000; i++) base.recordValue(70_000 + rng.below(20_000));
  const repl = replicationHistogram();
  recordSamples(repl, Array.from({ length: 5000 }, () => 20_000 + rng.below(10_000)));
  const rows = medianRows([
    { workload: 'puts-only', system: 'memcached', throughputPerSec: [100], p50Ns: [80_000], p99Ns: [90_000], errors: [0] },
    { workload: 'puts-only', system: 'mucached-3-shm', throughputPerSec: [90], p50Ns: [100_000], p99Ns: [110_000], errors: [0] },
  ]);
  const campaign = {
    histograms: new Map([['puts-only', new Map([['memcached', base], ['mucached-3-shm', e2e]])]]),
    replication: new Map([['puts-only', new Map([['mucached-3-shm', repl]])]]),
  };

  test('rows: leader, writes, percentiles and the share of the end-to-end median', () => {
    const r = replicationRows(campaign, rows, () => 1);
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ workload: 'puts-only', system: 'mucached-3-shm', leaderId: 1 });
    expect(r[0].summary.count).toBe(5000);
    expect(r[0].shareOfEndToEndP50).toBeGreaterThan(0.2);
    expect(r[0].shareOfEndToEndP50).toBeLessThan(0.3);
  });

  test('markdown: replication table, notes, plot link; the plot has a dashed replication curve', () => {
    const replication = replicationRows(campaign, rows, () => 1);
    const md = benchMarkdown({
      name: 'compare', title: 'T', rows, memcslap: [], histograms: campaign.histograms, replicationHistograms: campaign.replication,
      replication, cpu: [], notes: ['mucached-3-tcp did not start: no agreed leader'], json: {},
    }, new Map([['puts-only', 'compare-puts-only.svg']]));
    expect(md.startsWith('# mucached compare\n')).toBe(true);
    expect(md).toContain('- target (issue 5, replicated set): <=1.15x p50, <=1.5x p99 against memcached, no errors');
    expect(md).toMatch(/\| puts-only \| mucached-3-shm \| node 1 \| 5000 \| 2\d\.\d \| 2\d\.\d \| (2\d|30)\.\d \| (2\d|30)\.\d \| (2\d|30)\.\d \| \d+\.\d \| 2\d% \|/);
    expect(md).toContain('- mucached-3-tcp did not start: no agreed leader');
    expect(md).toContain('![puts-only latency by percentile](compare-puts-only.svg)');
    const series = plotSeriesFor('puts-only', { histograms: campaign.histograms, replicationHistograms: campaign.replication });
    expect(series.map((s) => [s.label, s.dashed === true])).toEqual([['memcached', false], ['mucached-3-shm', false], ['mucached-3-shm leader replication', true]]);
    const svg = percentilePlotSvg('puts-only', series);
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg.match(/<path [^>]*stroke-dasharray/g)).toHaveLength(1);
  });
});

describe('bench and compare arguments', () => {
  test('--cluster adds 3-node systems after the given ones, once each', () => {
    expect(parseBenchArgs(['--cluster', 'shm']).systems).toEqual(['memcached', 'mucached', 'mucached-3-shm']);
    expect(parseBenchArgs(['--cluster', 'tcp,shm,tcp', '--systems', 'memcached']).systems).toEqual(['memcached', 'mucached-3-tcp', 'mucached-3-shm']);
    expect(parseBenchArgs(['--cluster', 'shm', '--systems', 'mucached-3-shm,memcached']).systems).toEqual(['mucached-3-shm', 'memcached']);
    expect(() => parseBenchArgs(['--cluster', 'verbs'])).toThrow(/unknown cluster fabric 'verbs'/);
    expect(parseBenchArgs([]).reportDir).toBeNull();
  });

  test('--busy-poll-us: off unless given, a whole number of microseconds up to a second', () => {
    expect(parseBenchArgs([]).busyPollUs).toBe(0);
    expect(parseBenchArgs(['--busy-poll-us', '200']).busyPollUs).toBe(200);
    for (const bad of ['-1', '2.5', '1000001']) expect(() => parseBenchArgs(['--busy-poll-us', bad])).toThrow(/--busy-poll-us .*must be an integer from 0 to 1000000/);
  });

  test('compare: all four systems, puts-only, a report directory, no memcslap', () => {
    const o = parseBenchArgs([], 'compare');
    expect(o).toMatchObject({ command: 'compare', systems: ['memcached', 'mucached', 'mucached-3-shm', 'mucached-3-tcp'], workloads: ['puts-only'], memcslap: false, reportDir: 'compare-out', reps: 3 });
    expect(parseBenchArgs(['--report-dir', 'x', '--reps', '5'], 'compare')).toMatchObject({ reportDir: 'x', reps: 5 });
    // Through a follower too: beside every cluster chosen, or the ones --cluster adds.
    expect(parseBenchArgs(['--via-follower'], 'compare').systems).toEqual(['memcached', 'mucached', 'mucached-3-shm', 'mucached-3-tcp', 'mucached-3-shm-follower', 'mucached-3-tcp-follower']);
    expect(parseBenchArgs(['--cluster', 'shm', '--via-follower']).systems).toEqual(['memcached', 'mucached', 'mucached-3-shm', 'mucached-3-shm-follower']);
  });
});
