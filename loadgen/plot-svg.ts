/**
 * A latency-by-percentile plot as a standalone SVG (no dependencies): x is the percentile on
 * HdrHistogram's usual log scale (0%, 90%, 99%, 99.9%, ... evenly spaced), y the latency in
 * microseconds on a log scale (so the median region and a tail 100x higher both stay readable),
 * one curve per series. Pure: series in, SVG text out.
 */
import type { Histogram } from 'hdr-histogram-js';

export interface PlotSeries {
  label: string;
  /** [log10(1/(1-p)), latency in us] pairs, x ascending. */
  points: Array<[number, number]>;
  /** Drawn dashed: a component of another curve (a leader's replication latency), not a system. */
  dashed?: boolean;
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 60 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const STEPS_PER_DECADE = 20;

/** Percentile curve of a histogram of ns values, up to the "nines" its sample count supports. */
export function percentileSeries(label: string, h: Histogram): PlotSeries {
  const points: Array<[number, number]> = [];
  if (h.totalCount === 0) return { label, points };
  const steps = Math.max(STEPS_PER_DECADE, Math.floor(Math.log10(h.totalCount) * STEPS_PER_DECADE + 1e-9));
  for (let i = 0; i <= steps; i++) {
    const x = i / STEPS_PER_DECADE; // exact at whole decades, so tick positions line up
    const percentile = 100 * (1 - Math.pow(10, -x));
    points.push([x, h.getValueAtPercentile(percentile) / 1000]);
  }
  return { label, points };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function percentilePlotSvg(title: string, series: PlotSeries[]): string {
  const maxX = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => y > 0);
  const minDecade = ys.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...ys)));
  const maxDecade = ys.length === 0 ? 1 : Math.max(minDecade + 1, Math.ceil(Math.log10(Math.max(...ys))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + (x / maxX) * plotW;
  const sy = (y: number): number => {
    const decades = Math.log10(Math.max(y, Math.pow(10, minDecade))) - minDecade;
    return MARGIN.top + plotH - (decades / (maxDecade - minDecade)) * plotH;
  };
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  for (let k = 0; k <= Math.floor(maxX); k++) {
    const label = k === 0 ? '0%' : `${(100 * (1 - Math.pow(10, -k))).toFixed(Math.max(0, k - 2))}%`;
    out.push(`<line x1="${f(sx(k))}" y1="${MARGIN.top}" x2="${f(sx(k))}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`);
    out.push(`<text x="${f(sx(k))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${label}</text>`);
  }
  for (let d = minDecade; d <= maxDecade; d++) {
    const y = Math.pow(10, d);
    out.push(`<line x1="${MARGIN.left}" y1="${f(sy(y))}" x2="${MARGIN.left + plotW}" y2="${f(sy(y))}" stroke="#ddd"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${f(sy(y) + 4)}" text-anchor="end">${y >= 1 ? String(y) : y.toPrecision(1)}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">percentile</text>`);
  out.push(`<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">latency (us, log scale)</text>`);
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    const ly = MARGIN.top + 16 + i * 18;
    out.push(`<line x1="${MARGIN.left + 12}" y1="${ly - 4}" x2="${MARGIN.left + 36}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${MARGIN.left + 42}" y="${ly}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
