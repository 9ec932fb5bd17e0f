/**
 * `mucached cluster --nodes 3 [--fabric shm|tcp]`: a whole replicated cluster on this host, as
 * child processes, for trying mucached out. Prints who leads and how to connect; Ctrl-C stops all.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { removeShmClusterFiles } from '../../binding/shm-files';
import { heapOptions } from '../heap-size';

/** How long a leader other than the lowest id must keep the lead before it is reported. */
const LEADER_SETTLE_MS = 3000;

interface NodeStatus {
  id: number;
  role: string;
  leader: string;
}

/**
 * Ask one node for its `stats mu` (role, leader) over its client port. `overTls`: the nodes run
 * with -Z; this local tool asks the nodes it started itself, so it does not check their certificate.
 */
export function queryMu(port: number, host = '127.0.0.1', timeoutMs = 500, overTls = false): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = overTls ? tls.connect({ port, host, rejectUnauthorized: false }) : net.connect(port, host);
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('timeout')); }, timeoutMs);
    socket.on(overTls ? 'secureConnect' : 'connect', () => socket.write('stats mu\r\n'));
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (text.endsWith('END\r\n') || text.endsWith('ERROR\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        const out: Record<string, string> = {};
        for (const line of text.split('\r\n')) {
          const [tag, name, value] = line.split(' ');
          if (tag === 'STAT') out[name] = value;
        }
        resolve(out);
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** What follows `--` on the command line, for every node. */
function passedToNodes(args: Record<string, unknown>): string[] {
  return ((args['--'] as Array<string | number> | undefined) ?? []).map(String);
}

export async function runLocalCluster(argv: string[]): Promise<void> {
  const args = yargs(argv)
    .scriptName('mucached cluster')
    .usage('$0 [options]\n\nStarts a replicated mucached cluster on this host (child processes) and stops it on Ctrl-C.')
    .option('nodes', { type: 'number', default: 3, describe: 'how many nodes (3 or 5 tolerate 1 or 2 failures)' })
    .option('fabric', { choices: ['shm', 'tcp'] as const, default: 'shm' as const, describe: 'shm: one host, shared memory; tcp: the software NIC over TCP' })
    .option('port', { type: 'number', default: 11211, describe: 'client port of node 1; node i listens on port+i-1' })
    .option('fabric-port', { type: 'number', describe: 'tcp fabric port of node 1 (default: --port + 100; node links use it + 100)' })
    .option('m', { type: 'number', default: 64, describe: 'item memory per node, megabytes' })
    .option('I', { type: 'string', default: '1m', describe: 'max item size' })
    .epilogue('Options after -- go to every node as they are (mucached --help lists them), e.g.\n  mucached cluster --nodes 3 -- -c 4096 --write-deadline-ms 2000')
    .parserConfiguration({ 'populate--': true })
    .check((a) => {
      if (!Number.isInteger(a.nodes) || a.nodes < 1 || a.nodes > 9) throw new Error('--nodes must be 1..9');
      const reserved = passedToNodes(a).find((x) => /^--?(id|config)(=|$)/.test(x) || /^-[pU]\d*$/.test(x) || /^--(port|udp-port|listen)(=|$)/.test(x) || /^-l/.test(x));
      if (reserved !== undefined) throw new Error(`'${reserved}' after -- is set by mucached cluster itself (node ids, the cluster file and ports come from its own options)`);
      return true;
    })
    .help('h').alias('h', 'help').strict().parseSync();
  const nodeArgs = passedToNodes(args);
  const sasl = nodeArgs.some((a) => a === '-S' || a === '--enable-sasl');
  const overTls = nodeArgs.some((a) => a === '-Z' || a === '--enable-ssl');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-cluster-'));
  const configFile = path.join(dir, 'cluster.json');
  // Derived from --port by default, so a second local cluster needs only another --port.
  const fabricPort = args['fabric-port'] ?? args.port + 100;
  const nodes = Array.from({ length: args.nodes }, (_, i) => ({
    id: i + 1, host: '127.0.0.1', clientPort: args.port + i, fabricPort: fabricPort + i, peerPort: fabricPort + 100 + i,
  }));
  const clusterName = `local-${process.pid}`;
  fs.writeFileSync(configFile, JSON.stringify({
    cluster: clusterName, fabric: { kind: args.fabric }, secret: crypto.randomBytes(24).toString('hex'), nodes,
  }, null, 2));

  const cli = path.join(__dirname, '..', 'cli.js');
  const children = new Map<number, ChildProcess>();
  for (const n of nodes) {
    // The nodes stop by themselves if this command dies without stopping them (daemon/cli.ts, watchParent).
    const env = { ...process.env, MUCACHED_EXIT_WITH_PARENT: '1' };
    const child = spawn(process.execPath, [...heapOptions(args.m), cli, '--id', String(n.id), '--config', configFile, '--state-dir', path.join(dir, 'state'), '-m', String(args.m), '-I', args.I, ...nodeArgs], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    children.set(n.id, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.log(`mucached cluster: node ${n.id} exited (${signal ?? code})`);
      if ([...children.values()].every((c) => c.exitCode !== null || c.signalCode !== null)) void stopAll('every node exited');
    });
  }

  let stopping = false;
  const stopAll = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`mucached cluster: ${why}, stopping ${children.size} nodes`);
    const exits = [...children.values()].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => { if (c.exitCode === null) c.kill('SIGKILL'); }, 5000).unref();
    }));
    await Promise.all(exits);
    fs.rmSync(dir, { recursive: true, force: true });
    // A node that had to be killed (no exit within 5 s) leaves its shm region files behind.
    if (args.fabric === 'shm') removeShmClusterFiles(clusterName);
    process.exit(0);
  };
  process.on('SIGINT', () => void stopAll('Ctrl-C'));
  process.on('SIGTERM', () => void stopAll('SIGTERM'));

  if (sasl) {
    // The leader report below asks each node for `stats` in the text protocol, which SASL refuses.
    console.log(`mucached cluster: ${nodes.length} nodes starting on ${args.fabric} with SASL: the nodes' log lines above name the leader.`);
    console.log(`mucached cluster: connect a binary-protocol client with credentials to any node: ${nodes.map((n) => `127.0.0.1:${n.clientPort}`).join(', ')}`);
    console.log('mucached cluster: Ctrl-C stops all nodes.');
    return;
  }
  // Report the leader once the group has one every node follows (bounded wait). The first node
  // up leads first and hands the lead to a lower id once that one has caught up, milliseconds
  // later: a leader other than the lowest id is reported only if it still leads after a grace.
  const deadline = Date.now() + 30_000;
  const lowestId = Math.min(...nodes.map((n) => n.id));
  let agreedSinceMs: number | null = null;
  while (!stopping && Date.now() < deadline) {
    const statuses: NodeStatus[] = [];
    for (const n of nodes) {
      try {
        const mu = await queryMu(n.clientPort, '127.0.0.1', 500, overTls);
        statuses.push({ id: n.id, role: mu.mu_role ?? '?', leader: mu.mu_leader_id ?? '0' });
      } catch {
        // not up yet
      }
    }
    const leader = statuses.find((s) => s.role === 'leader');
    const agreed = leader !== undefined && statuses.length === nodes.length && statuses.every((s) => s.leader === String(leader.id));
    if (!agreed) agreedSinceMs = null;
    else if (agreedSinceMs === null) agreedSinceMs = Date.now();
    if (agreed && (leader.id === lowestId || Date.now() - agreedSinceMs! >= LEADER_SETTLE_MS)) {
      console.log(`mucached cluster: ${nodes.length} nodes up on ${args.fabric}; node ${leader.id} leads.`);
      console.log(`mucached cluster: connect any memcached client${overTls ? ' (over TLS)' : ''} to any node: ${nodes.map((n) => `127.0.0.1:${n.clientPort}`).join(', ')}`);
      console.log('mucached cluster: Ctrl-C stops all nodes.');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!stopping) console.log('mucached cluster: no leader after 30 s; check the node logs above');
}
