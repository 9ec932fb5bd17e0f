/**
 * `mucached cluster` (what `npm start` runs): the nodes come up and replicate, and stopping the
 * command leaves nothing behind, not even when a node has to be killed because it would not exit.
 * Real processes on loopback; every process is stopped by its PID, every wait is bounded.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import { daemonCli } from '../helpers/procs';
import { distinctFreePorts, freePortBase } from '../../loadgen/ports';
import { processAlive, waitUntil } from '../../loadgen/wait';
import { exchange, waitForValue } from '../helpers/cluster';
import { queryMu } from '../../daemon/cluster/local-cluster';

jest.setTimeout(60_000);

const SHM = '/dev/shm';

function filesOf(clusterName: string): string[] {
  return fs.readdirSync(SHM).filter((f) => f.startsWith(`mucached-${clusterName}-`));
}

/** The pid in node `id`'s presence file (the shm backend's `<cluster>-n<id>.pid`), or 0. */
function nodePid(clusterName: string, id: number): number {
  try {
    return Number(fs.readFileSync(`${SHM}/mucached-${clusterName}-n${id}.pid`, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** `p`, or nothing after `ms`; the timer is cleared either way (a pending one kept jest from exiting). */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((r) => { timer = setTimeout(r, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

test('mucached cluster refuses node options it sets itself, naming the option', () => {
  const r = spawnSync(process.execPath, [daemonCli, 'cluster', '--', '-c', '10', '--config', '/tmp/x.json'], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("'--config' after -- is set by mucached cluster itself");
});

test('mucached cluster replicates, passes options after -- to its nodes, and on SIGTERM stops every node and removes its shm files, a stuck node included', async () => {
  // Node i listens on port+i-1 (clients), fabricPort+i-1 and fabricPort+100+i-1 (its daemons' link):
  // each base is chosen with all of its offsets free (a taken port+1 kept one node from starting).
  const port = await freePortBase([0, 1, 2]);
  let fabricPort = await freePortBase([0, 1, 2, 100, 101, 102]);
  for (let i = 0; i < 100 && fabricPort <= port + 2 && fabricPort + 102 >= port; i++) fabricPort = await freePortBase([0, 1, 2, 100, 101, 102]);
  const cmd: ChildProcess = spawn(process.execPath, [daemonCli, 'cluster', '--nodes', '3', '--port', String(port), '--fabric-port', String(fabricPort), '-m', '16', '--', '-c', '77'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  cmd.stdout!.on('data', (d) => { output += d.toString(); });
  cmd.stderr!.on('data', (d) => { output += d.toString(); });
  const exited = new Promise<void>((r) => cmd.once('exit', () => r()));
  const clusterName = `local-${cmd.pid}`;
  const pids: number[] = [];
  try {
    await waitUntil(() => /nodes up on shm; node \d leads/.test(output), 30_000, 'the cluster to come up').catch((e: Error) => {
      throw new Error(`${e.message}; its output:\n${output}`); // the output as it is then, not as it was at the start
    });
    // The node it names still leads and every node follows it (the first node up leads first and
    // hands the lead to node 1 once that one has caught up: that hand-off is over by the report).
    const reported = /node (\d) leads/.exec(output)![1];
    for (let id = 1; id <= 3; id++) expect((await queryMu(port + id - 1)).mu_leader_id).toBe(reported);
    expect((await queryMu(port + Number(reported) - 1)).mu_role).toBe('leader');
    const stored = await exchange(port, 'set lc-key 0 0 5\r\nhello\r\n', (r) => r.endsWith('\r\n'));
    expect(stored).toBe('STORED\r\n');
    await waitForValue(port + 2, 'lc-key', 'hello');
    // Options after -- reach every node.
    expect(await exchange(port + 2, 'stats settings\r\n', (r) => r.endsWith('END\r\n'))).toContain('STAT maxconns 77\r\n');

    for (let id = 1; id <= 3; id++) pids.push(nodePid(clusterName, id));
    expect(pids.every((p) => p > 0 && processAlive(p))).toBe(true);
    expect(filesOf(clusterName).length).toBeGreaterThan(0);
    // V8's heap sized for -m 16 (daemon/heap-size.ts): the floor, 128 MB.
    for (const p of pids) expect(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['--initial-old-space-size=128', '--max-semi-space-size=32']));
    // A node that cannot act on SIGTERM: the command kills it after its 5 s grace.
    process.kill(pids[1], 'SIGSTOP');
    process.kill(cmd.pid!, 'SIGTERM');
    await settledWithin(exited, 20_000);
    expect(cmd.exitCode).toBe(0);
    await waitUntil(() => pids.every((p) => !processAlive(p)), 5000, 'every node process to be gone');
    expect(filesOf(clusterName)).toEqual([]);
  } finally {
    for (const p of pids) if (p > 0 && processAlive(p)) process.kill(p, 'SIGKILL');
    if (cmd.exitCode === null && cmd.signalCode === null) cmd.kill('SIGKILL');
    for (const f of filesOf(clusterName)) fs.rmSync(`${SHM}/${f}`, { force: true });
  }
});

test('nodes started by a tool that dies stop by themselves and remove their files, though their log pipe is closed', async () => {
  // The starter (a stand-in for a crashed chaos runner) spawns three nodes with their output piped
  // to itself, prints their pids, and exits without stopping them: the nodes are reparented, and
  // every log line they write from then on fails with EPIPE.
  const clusterName = `orphans-${process.pid}`;
  const ports = await distinctFreePorts(9);
  const config = {
    cluster: clusterName, fabric: { kind: 'shm' }, secret: 'orphan-test-secret-0123456789abcdef',
    nodes: [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', clientPort: ports[id - 1], fabricPort: ports[id + 2], peerPort: ports[id + 5] })),
  };
  const dir = fs.mkdtempSync('/tmp/mucached-orphans-');
  const configFile = `${dir}/cluster.json`;
  fs.writeFileSync(configFile, JSON.stringify(config));
  const starterCode = `
    const { spawn } = require('child_process');
    const env = { ...process.env, MUCACHED_EXIT_WITH_PARENT: '1' };
    const kids = [1, 2, 3].map((id) => spawn(process.execPath, [${JSON.stringify(daemonCli)}, '--id', String(id), '--config', ${JSON.stringify(configFile)}, '-m', '16'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    console.log(kids.map((k) => k.pid).join(' '));
    setTimeout(() => process.exit(0), 4000);`;
  const starter = spawn(process.execPath, ['-e', starterCode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  starter.stdout!.on('data', (d) => { out += d.toString(); });
  await new Promise<void>((r) => starter.once('exit', () => r()));
  const pids = out.trim().split(' ').map(Number);
  try {
    expect(pids).toHaveLength(3);
    expect(filesOf(clusterName).length).toBeGreaterThan(0); // the nodes were up when the starter left
    await waitUntil(() => pids.every((p) => !processAlive(p)), 15_000, 'the orphaned nodes to stop');
    expect(filesOf(clusterName)).toEqual([]);
  } finally {
    for (const p of pids) if (p > 0 && processAlive(p)) process.kill(p, 'SIGKILL');
    for (const f of filesOf(clusterName)) fs.rmSync(`${SHM}/${f}`, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two local clusters run side by side when only --port differs (their fabric and link ports follow it)', async () => {
  // Bases with all offsets free: clients +0..2, tcp fabric +100..102, node links +200..202.
  const offsets = [0, 1, 2, 100, 101, 102, 200, 201, 202];
  const first = await freePortBase(offsets);
  let second = await freePortBase(offsets);
  for (let i = 0; i < 100 && Math.abs(second - first) < 203; i++) second = await freePortBase(offsets);
  const cmds = [first, second].map((port) => {
    const cmd = spawn(process.execPath, [daemonCli, 'cluster', '--nodes', '3', '--fabric', 'tcp', '--port', String(port), '-m', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { text: '' };
    cmd.stdout!.on('data', (d) => { out.text += d.toString(); });
    cmd.stderr!.on('data', (d) => { out.text += d.toString(); });
    return { cmd, out, port, exited: new Promise<void>((r) => cmd.once('exit', () => r())) };
  });
  try {
    for (const c of cmds) {
      await waitUntil(() => /nodes up on tcp; node \d leads/.test(c.out.text), 30_000, `the cluster on ${c.port} to come up`).catch((e: Error) => {
        throw new Error(`${e.message}; its output:\n${c.out.text}`);
      });
    }
    for (const c of cmds) {
      expect(await exchange(c.port, `set side-${c.port} 0 0 2\r\nok\r\n`, (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
      await waitForValue(c.port + 2, `side-${c.port}`, 'ok');
    }
  } finally {
    for (const c of cmds) if (c.cmd.exitCode === null && c.cmd.signalCode === null) c.cmd.kill('SIGTERM');
    await settledWithin(Promise.all(cmds.map((c) => c.exited)), 20_000);
    for (const c of cmds) if (c.cmd.exitCode === null && c.cmd.signalCode === null) c.cmd.kill('SIGKILL');
  }
});
