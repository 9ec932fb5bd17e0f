/**
 * CPU per request (loadgen/process-cpu.ts): /proc/<pid>/stat read right, medians and the ratio
 * against memcached computed per workload.
 */
import { spawn } from 'child_process';
import { cpuPerRequest, cpuRows, processCpuUs } from '../../loadgen/process-cpu';

test("a process's CPU time read from /proc agrees with what the process measures itself; a gone process reads NaN", async () => {
  // The child spins until it has used 300 ms of CPU (or 20 s have passed), says how much it used,
  // and then sits idle until killed, so its counts stay put while they are read.
  const script = 'const end = Date.now() + 20000; const used = () => { const u = process.cpuUsage(); return u.user + u.system; }; ' +
    'while (used() < 300000 && Date.now() < end); console.log(used()); setTimeout(() => undefined, 30000);';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  let timer: NodeJS.Timeout | undefined;
  try {
    const selfUs = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('the child did not report within 25 s')), 25_000);
      child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    });
    const procUs = processCpuUs(child.pid!);
    expect(selfUs).toBeGreaterThanOrEqual(300_000);
    // /proc counts in clock ticks (10 ms): the two agree within a few of them.
    expect(Math.abs(procUs - selfUs)).toBeLessThan(50_000);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  expect(processCpuUs(child.pid!)).toBeNaN();
}, 30_000);

test('per request: the CPU spent between two snapshots over the requests served between them', () => {
  expect(cpuPerRequest({ servedUs: 100, othersUs: 50, requests: 10 }, { servedUs: 400, othersUs: 250, requests: 110 })).toEqual({ servedUs: 3, othersUs: 2 });
  expect(cpuPerRequest({ servedUs: 100, othersUs: 0, requests: 10 }, { servedUs: 400, othersUs: 0, requests: 10 })).toEqual({ servedUs: NaN, othersUs: NaN });
});

test('rows: medians over the runs, the total against memcached on the same workload; runs without a figure are left out', () => {
  const rows = cpuRows([
    { workload: 'puts-only', system: 'memcached', cpuServedUs: [7, 8, 9], cpuOthersUs: [0, 0, 0] },
    { workload: 'puts-only', system: 'mucached-3-shm', cpuServedUs: [15, 14, NaN], cpuOthersUs: [5, 4, NaN] },
    { workload: 'gets-only', system: 'mucached', cpuServedUs: [6], cpuOthersUs: [0] },
    { workload: 'puts-only', system: 'mucached', cpuServedUs: [NaN], cpuOthersUs: [NaN] },
  ]);
  expect(rows).toEqual([
    { workload: 'puts-only', system: 'memcached', servedUs: 8, othersUs: 0, totalUs: 8, totalRatio: 1 },
    { workload: 'puts-only', system: 'mucached-3-shm', servedUs: 14.5, othersUs: 4.5, totalUs: 19, totalRatio: 19 / 8 },
    { workload: 'gets-only', system: 'mucached', servedUs: 6, othersUs: 0, totalUs: 6, totalRatio: NaN },
  ]);
});
