/** The bench report's pure parts: the percentile plot (SVG) and the markdown. */
import * as hdr from 'hdr-histogram-js';
import { benchMarkdown } from '../../loadgen/bench-report';
import { markdownTable, medianRows } from '../../loadgen/bench-table';
import { percentilePlotSvg, percentileSeries } from '../../loadgen/plot-svg';
import { makeRng } from '../../loadgen/rng';
import { TEST_SEED } from './support';

function histogramOf(valuesNs: number[]): hdr.Histogram {
  const h = hdr.build({ numberOfSignificantValueDigits: 3 });
  for (const v of valuesNs) h.recordValue(v);
  return h;
}

describe('percentile plot', () => {
  const rng = makeRng(TEST_SEED);
  const fast = histogramOf(Array.from({ length: 10_000 }, () => 50_000 + rng.below(20_000)));
  const slow = histogramOf(Array.from({ length: 10_000 }, (_, i) => (i % 1000 === 0 ? 5_000_000 : 80_000 + rng.below(40_000))));

  test('series go as far as the sample count supports, latency never decreasing', () => {
    const s = percentileSeries('fast', fast);
    expect(s.points[0][0]).toBe(0);
    expect(s.points[s.points.length - 1][0]).toBeCloseTo(4, 5); // 10^4 samples: up to 99.99%
    for (let i = 1; i < s.points.length; i++) expect(s.points[i][1]).toBeGreaterThanOrEqual(s.points[i - 1][1]);
    expect(s.points[0][1]).toBeGreaterThanOrEqual(49.9);
    expect(percentileSeries('empty', histogramOf([])).points).toEqual([]);
  });

  test('one curve and legend entry per series, inside the plot area', () => {
    const svg = percentilePlotSvg('puts-only <test>', [percentileSeries('memcached', fast), percentileSeries('mucached', slow)]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('puts-only &lt;test&gt;');
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]);
    expect(paths).toHaveLength(2);
    for (const d of paths) {
      const pts = [...d.matchAll(/[ML]([0-9.]+),([0-9.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(pts.length).toBeGreaterThan(50);
      for (const [x, y] of pts) {
        expect(x).toBeGreaterThanOrEqual(70);
        expect(x).toBeLessThanOrEqual(700);
        expect(y).toBeGreaterThanOrEqual(40);
        expect(y).toBeLessThanOrEqual(360);
      }
      // Higher latency is drawn higher up: y never grows along the curve.
      for (let i = 1; i < pts.length; i++) expect(pts[i][1]).toBeLessThanOrEqual(pts[i - 1][1]);
    }
    for (const label of ['memcached', 'mucached', '90%', '99.99%', '10000']) expect(svg).toContain(`>${label}</text>`);
  });
});

describe('markdown', () => {
  test('table escapes pipes and right-aligns numbers', () => {
    expect(markdownTable(['a', 'b', 'n'], [['x|y', 'z', '1']])).toBe('| a | b | n |\n| --- | --- | ---: |\n| x\\|y | z | 1 |');
    // Ratios, percentages and empty cells count as numbers; a text column after them stays left.
    expect(markdownTable(['n', 'r', 'p', 'verdict'], [['12.5', '1.20x', '25%', 'meets target'], ['-', '', '3%', '']]).split('\n')[1]).toBe('| ---: | ---: | ---: | --- |');
  });

  test('report: title, median table, memcslap check and plot links', () => {
    const rows = medianRows([
      { workload: 'puts-only', system: 'memcached', throughputPerSec: [100], p50Ns: [10_000], p99Ns: [20_000], errors: [0] },
      { workload: 'puts-only', system: 'mucached', throughputPerSec: [90], p50Ns: [11_000], p99Ns: [30_000], errors: [0] },
    ]);
    const md = benchMarkdown(
      {
        name: 'bench', title: 'T', rows, memcslap: [{ test: 'set', connections: 16, memcslapPerSec: 50_000, loadgenPerSec: 60_000, ratio: 1.2 }],
        histograms: new Map(), replicationHistograms: new Map(), replication: [], cpu: [], notes: [], json: {},
      },
      new Map([['puts-only', 'bench-puts-only.svg']]),
    );
    expect(md).toContain('| puts-only | mucached | 1 | 90 | 11.0 | 30.0 | 0 | 0.90x | 1.10x | 1.50x | >=0.7x req/s, <=1.2x p50 | meets target |');
    expect(md).toContain('- target (issue 2, single node): >=0.7x req/s, <=1.2x p50 against memcached, no errors');
    expect(md).not.toContain('replication latency');
    expect(md).not.toContain('Notes:');
    expect(md).toContain('| set | 16 | 50000 | 60000 | 1.20x |');
    expect(md).toContain('![puts-only latency by percentile](bench-puts-only.svg)');
  });
});
