/**
 * `--local N`: a whole group on this host in one command. Starts N child processes of the same tool
 * (the old positional form, one per node id), relays node 1's output (it measures), and when node 1
 * is done stops the followers by their PIDs, as users used to do by hand with Ctrl-C.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import type { MainStArgs } from './main-st-common';
import { freePort } from './ports';


function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const done = exited(child);
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => { if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, 3000);
  await done;
  clearTimeout(timer);
}

/** Returns node 1's exit status. */
export async function runLocalGroup(a: MainStArgs, script: string): Promise<number> {
  const n = a.local!;
  const cluster = `${a.cluster}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const peers: string[] = [];
  for (const id of ids) peers.push(a.fabric === 'tcp' ? `${id}=127.0.0.1:${await freePort()}` : `${id}=`);
  const env = { ...process.env, MU_SECRET: a.secret ?? randomBytes(16).toString('hex'), MU_LOCAL_CHILD: '1' };
  const common = [
    String(a.payloadBytes), String(a.outstanding), '--fabric', a.fabric, '--cluster', cluster, '--peers', peers.join(','),
    '--count', String(a.count), '--warmup', String(a.warmup), '--slots', String(a.slots), '--out-dir', a.outDir,
    '--leader-timeout-s', String(a.leaderTimeoutS),
    ...(a.heartbeatMs !== undefined ? ['--heartbeat-ms', String(a.heartbeatMs)] : []),
    ...(a.scanMs !== undefined ? ['--scan-ms', String(a.scanMs)] : []),
    ...(a.json ? ['--json'] : []),
  ];
  const children = ids.map((id) => {
    const child = spawn(process.execPath, [script, String(id), ...common], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = `[node ${id}] `;
    const relay = (to: NodeJS.WriteStream) => (d: Buffer) => {
      const text = d.toString();
      to.write(id === 1 && to === process.stdout ? text : text.replace(/^(?=.)/gm, prefix));
    };
    child.stdout!.on('data', relay(id === 1 ? process.stdout : process.stderr));
    child.stderr!.on('data', relay(process.stderr));
    return child;
  });
  const stopAll = () => Promise.all(children.map(stopChild));
  const onSignal = () => { void stopAll().then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await exited(children[0]);
  } finally {
    await stopAll();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
