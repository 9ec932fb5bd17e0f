/**
 * What main-st and main-st-lat share: the command line (the old positional form
 * `<process_id> <payload_size> <nr_of_outstanding_reqs>` plus options), the group's addresses
 * (a config file of `id=host[:port]` lines, or --peers), and opening this process's fabric.
 */
import * as fs from 'fs';
import yargs from 'yargs';
import type { PeerAddress } from '../binding/fabric';
import { defaultConfig, MuConfig } from '../mu-core/config';
import { SLOT_HEADER_BYTES } from '../mu-core/layout';

export type FabricKind = 'shm' | 'tcp' | 'verbs';
export const DEFAULT_FABRIC_PORT = 11311;

export interface MainStArgs {
  tool: 'main-st' | 'main-st-lat';
  /** Set unless --local. */
  processId: number | null;
  payloadBytes: number;
  outstanding: number;
  local: number | null;
  fabric: FabricKind;
  members: PeerAddress[];
  cluster: string;
  secret: string | undefined;
  count: number;
  warmup: number;
  json: boolean;
  outDir: string;
  slots: number;
  heartbeatMs: number | undefined;
  scanMs: number | undefined;
  leaderTimeoutS: number;
  /** Started by --local (its output gets prefixed by the parent). */
  childOfLocal: boolean;
}

/** `1=10.0.0.1:11311` / `2=/dev/shm` / `3=host` lines or comma-separated items. */
export function parsePeers(text: string, fabric: FabricKind): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^(\d+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`bad member "${line}": expected <id>=<host>[:<port>]`);
    const peerId = Number(m[1]);
    const addr = m[2].trim();
    if (fabric === 'shm') {
      out.push(addr === '' ? { peerId } : { peerId, host: addr });
      continue;
    }
    const hp = /^(.*?)(?::(\d+))?$/.exec(addr)!;
    out.push({ peerId, host: hp[1] || '127.0.0.1', port: hp[2] ? Number(hp[2]) : DEFAULT_FABRIC_PORT });
  }
  const ids = out.map((p) => p.peerId);
  if (new Set(ids).size !== ids.length) throw new Error(`duplicate member ids in ${ids.join(',')}`);
  return out.sort((a, b) => a.peerId - b.peerId);
}

export function parseMainStArgs(tool: MainStArgs['tool'], argv: string[]): MainStArgs {
  const args = yargs(argv)
    .scriptName(tool)
    .usage(`$0 <process_id> <payload_size> <nr_of_outstanding_reqs>    (one member of a group)\n$0 --local 3 <payload_size> <nr_of_outstanding_reqs>    (a whole local group)`)
    .command('$0 [values..]', tool === 'main-st' ? 'Standalone Mu replication throughput.' : 'Standalone Mu replication latency.')
    .positional('values', { type: 'number', array: true })
    .option('local', { type: 'number', describe: 'start a whole group of this many nodes on this host (child processes)' })
    .option('fabric', { choices: ['shm', 'tcp', 'verbs'], default: 'shm' })
    .option('config', { type: 'string', describe: 'file of <id>=<host>[:<port>] lines (default ./config.txt)' })
    .option('peers', { type: 'string', describe: 'the members inline: 1=host:port,2=host:port,...' })
    .option('cluster', { type: 'string', default: 'main-st', describe: 'namespace of the group (shm file names)' })
    .option('secret', { type: 'string', describe: 'tcp: cluster secret (default: env MU_SECRET)' })
    .option('count', { alias: 'n', type: 'number', describe: 'entries to replicate (measured)' })
    .option('warmup', { type: 'number', default: 10_000, describe: 'entries replicated before measuring' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' })
    .option('out-dir', { type: 'string', default: '.', describe: 'main-st-lat: where dump-st-<size>-<outstanding>.txt goes' })
    .option('slots', { type: 'number', default: 8192, describe: 'log ring slots' })
    .option('heartbeat-ms', { type: 'number', describe: 'heartbeat interval (default per fabric)' })
    .option('scan-ms', { type: 'number', describe: 'peer scan interval (default per fabric)' })
    .option('leader-timeout-s', { type: 'number', default: 30, describe: 'give up if no leader after this long' })
    .strict()
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new Error(msg); })
    .help()
    .version(false)
    .parseSync();

  const values = (args.values ?? []) as number[];
  const local = args.local ?? null;
  let processId: number | null = null;
  let rest: number[];
  if (local !== null) {
    if (!Number.isInteger(local) || local < 1 || local > 9) throw new Error('--local takes a group size of 1..9');
    rest = values.length === 3 ? values.slice(1) : values;
  } else {
    if (values.length !== 3) throw new Error(`expected <process_id> <payload_size> <nr_of_outstanding_reqs>, got ${values.length} values`);
    processId = values[0];
    rest = values.slice(1);
  }
  if (rest.length !== 2) throw new Error('expected <payload_size> <nr_of_outstanding_reqs>');
  const [payloadBytes, outstanding] = rest;
  if (!Number.isInteger(payloadBytes) || payloadBytes < 1 || payloadBytes > 60_000) throw new Error('payload_size must be 1..60000 bytes');
  if (!Number.isInteger(outstanding) || outstanding < 1 || outstanding > 65_536) throw new Error('nr_of_outstanding_reqs must be 1..65536');
  const fabric = args.fabric as FabricKind;

  let members: PeerAddress[] = [];
  if (args.peers !== undefined) members = parsePeers(args.peers, fabric);
  else if (local === null) {
    const file = args.config ?? 'config.txt';
    if (!fs.existsSync(file)) throw new Error(`no group config: ${file} does not exist (give --config FILE, --peers, or --local N)`);
    members = parsePeers(fs.readFileSync(file, 'utf8'), fabric);
  }
  if (local === null && !members.some((m) => m.peerId === processId)) {
    throw new Error(`process_id ${processId} is not a member (${members.map((m) => m.peerId).join(',')})`);
  }
  return {
    tool, processId, payloadBytes, outstanding, local, fabric, members, cluster: args.cluster,
    secret: args.secret ?? process.env.MU_SECRET, count: args.count ?? (tool === 'main-st' ? 1_000_000 : 100_000),
    warmup: args.warmup, json: args.json, outDir: args['out-dir'], slots: args.slots,
    heartbeatMs: args['heartbeat-ms'], scanMs: args['scan-ms'], leaderTimeoutS: args['leader-timeout-s'],
    childOfLocal: process.env.MU_LOCAL_CHILD === '1',
  };
}

/** Mu settings for a run: slots sized for the payload, timings per fabric unless overridden. */
export function benchConfig(a: MainStArgs): MuConfig {
  const base = defaultConfig(a.fabric);
  const slotBytes = Math.ceil((a.payloadBytes + SLOT_HEADER_BYTES) / 64) * 64;
  return {
    ...base,
    slotCount: a.slots,
    slotBytes,
    maxBatchSlots: Math.max(1, Math.min(base.maxBatchSlots, Math.floor((1 << 20) / slotBytes))),
    heartbeatIntervalMs: a.heartbeatMs ?? base.heartbeatIntervalMs,
    scanIntervalMs: a.scanMs ?? base.scanIntervalMs,
  };
}

/** Percentile (nearest rank) of sorted values. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
