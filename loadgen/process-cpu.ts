/**
 * CPU time per request of the systems a bench measures: what the processes spent (user + system,
 * from /proc/<pid>/stat) over a run, divided by the requests they served in it (the node's own
 * `stats` cmd_get + cmd_set + cmd_touch, warmup and preload included like the CPU). It says which
 * process a request's cost lands on, whatever share of the cores the client took; on a shared
 * machine it still varies between runs about as much as throughput does, and a cluster's figure
 * grows when its throughput drops (fewer writes share each log entry). A cluster's figure is split:
 * the node the clients talk to, and the other nodes together (followers applying the log, or the
 * leader a follower forwards to).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { BASELINE_SYSTEM, median } from './bench-table';
import { statsExchange } from './cluster';
import { parseStats } from './cluster-config';

let ticksPerSec = 0;

/** The kernel's clock ticks per second (USER_HZ), which /proc/<pid>/stat counts in. */
function clockTicksPerSec(): number {
  if (ticksPerSec === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number(r.stdout?.trim());
    ticksPerSec = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSec;
}

/** CPU time `pid` has used so far (user + system), in microseconds; NaN if it is gone or unreadable. */
export function processCpuUs(pid: number): number {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
  const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime); `after` starts at field 3.
  const ticks = Number(after[11]) + Number(after[12]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / clockTicksPerSec() : NaN;
}

/** Requests a memcached-protocol server has served so far: gets, sets and touches, by its own stats. */
export async function requestsServed(port: number): Promise<number> {
  const stats = parseStats(await statsExchange(port, 'stats'));
  const n = (name: string): number => Number(stats.get(name) ?? 0);
  return n('cmd_get') + n('cmd_set') + n('cmd_touch');
}

export interface CpuSnapshot {
  servedUs: number;
  othersUs: number;
  requests: number;
}

/** `pid`: the process the clients talk to; `others`: the rest of the system (a cluster's other nodes). */
export async function cpuSnapshot(port: number, pid: number, others: number[]): Promise<CpuSnapshot> {
  const requests = await requestsServed(port);
  return { servedUs: processCpuUs(pid), othersUs: others.reduce((a, p) => a + processCpuUs(p), 0), requests };
}

/** Microseconds of CPU per request between two snapshots (NaN when no request was served). */
export function cpuPerRequest(before: CpuSnapshot, after: CpuSnapshot): { servedUs: number; othersUs: number } {
  const requests = after.requests - before.requests;
  if (!(requests > 0)) return { servedUs: NaN, othersUs: NaN };
  return { servedUs: (after.servedUs - before.servedUs) / requests, othersUs: (after.othersUs - before.othersUs) / requests };
}

export interface CpuRow {
  workload: string;
  system: string;
  /** Medians over the repetitions, microseconds per request. */
  servedUs: number;
  othersUs: number;
  totalUs: number;
  /** totalUs against memcached's on the same workload (NaN if it did not run). */
  totalRatio: number;
}

/** Per workload and system: median CPU per request, and the total against memcached's. */
export function cpuRows(samples: Array<{ workload: string; system: string; cpuServedUs?: number[]; cpuOthersUs?: number[] }>, baseline = BASELINE_SYSTEM): CpuRow[] {
  const totals = (s: { cpuServedUs?: number[]; cpuOthersUs?: number[] }): number[] =>
    (s.cpuServedUs ?? []).map((v, i) => v + (s.cpuOthersUs?.[i] ?? 0)).filter((v) => Number.isFinite(v));
  const base = new Map(samples.filter((s) => s.system === baseline).map((s) => [s.workload, median(totals(s))]));
  return samples.filter((s) => (s.cpuServedUs ?? []).some((v) => Number.isFinite(v))).map((s) => {
    const totalUs = median(totals(s));
    return {
      workload: s.workload,
      system: s.system,
      servedUs: median((s.cpuServedUs ?? []).filter((v) => Number.isFinite(v))),
      othersUs: median((s.cpuOthersUs ?? []).filter((v) => Number.isFinite(v))),
      totalUs,
      totalRatio: totalUs / (base.get(s.workload) ?? NaN),
    };
  });
}

export const CPU_TABLE_TITLE = 'CPU per request (/proc, warmup and preload included; medians): the node the clients talk to, the other nodes, all';
export const CPU_TABLE_HEADER = ['workload', 'system', 'served us', 'others us', 'total us', 'total vs memcached'];

const us = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** The CPU table's cells (terminal and markdown). */
export function cpuCells(rows: CpuRow[]): string[][] {
  return rows.map((r) => [r.workload, r.system, us(r.servedUs), us(r.othersUs), us(r.totalUs), Number.isFinite(r.totalRatio) ? `${r.totalRatio.toFixed(2)}x` : '-']);
}

/** One run's figure for the bench log: `12.3 us/req`, or for several processes `12.3 + 4.5 us/req` (the node talked to, the others). */
export function cpuText(cpu: { servedUs: number; othersUs: number }): string {
  if (Number.isNaN(cpu.servedUs)) return '-';
  return cpu.othersUs > 0 ? `${us(cpu.servedUs)} + ${us(cpu.othersUs)} us/req` : `${us(cpu.servedUs)} us/req`;
}
