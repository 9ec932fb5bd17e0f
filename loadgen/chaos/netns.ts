/**
 * Builds and removes one run's network namespaces (netns-plan.ts) and applies partitions.
 * Needs root and `ip netns`. Every topology made here is removed by destroy(), and also by a
 * process 'exit' hook (a failed or interrupted run), so no namespace, veth or route outlives it.
 * A /24 is claimed with a lock file naming the owner pid (a dead owner's claim is taken over), so
 * parallel runs get distinct subnets; namespaces left by a dead owner (SIGKILLed run) are swept.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Cut, NetnsPlan, cutCommands, cutKey, netnsPlan, ownerPid, setupCommands, teardownCommands } from './netns-plan';
import { processAlive } from '../wait';

const LOCK_DIR = path.join(os.tmpdir(), 'mucached-chaos-netns');
const IP_TIMEOUT_MS = 10_000;

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function mustIp(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`);
}


/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root (network namespaces need root)';
  const r = ip(['netns', 'list']);
  if (!r.ok) return `\`ip netns\` is unavailable: ${r.out}`;
  return null;
}

/** Removes namespaces (and root-side veths) whose owner process is gone. */
function sweepStale(): void {
  const r = ip(['netns', 'list']);
  if (!r.ok) return;
  for (const line of r.out.split('\n')) {
    const name = line.split(' ')[0];
    const pid = ownerPid(name);
    if (pid === null || pid === process.pid || processAlive(pid)) continue;
    ip(['netns', 'del', name]);
  }
  const links = ip(['-o', 'link', 'show']);
  for (const m of links.out.matchAll(/^\d+: (mux(\d+)x\d+)[@:]/gm)) if (!processAlive(Number(m[2]))) ip(['link', 'del', m[1]]);
}

/** Claims a free 10.77.x.0/24 with an exclusive lock file; a dead owner's file is taken over. */
function claimSubnet(): { subnet: number; lockFile: string } {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const routes = ip(['-4', 'route', 'show']).out;
  for (let i = 0; i < 256; i++) {
    const subnet = (process.pid + i) % 256;
    const lockFile = path.join(LOCK_DIR, `subnet-${subnet}`);
    if (routes.includes(`10.77.${subnet}.0/24`) && !fs.existsSync(lockFile)) continue; // someone else's
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return { subnet, lockFile };
    } catch {
      const owner = Number(fs.readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
        fs.rmSync(lockFile, { force: true });
        i--; // retry the same subnet once its stale claim is gone
        continue;
      }
    }
  }
  throw new Error(`no free 10.77.x.0/24 (locks in ${LOCK_DIR})`);
}

const live = new Set<NetnsTopology>();
let runCounter = 0;
let exitHooked = false;

export class NetnsTopology {
  private readonly cuts = new Map<string, Cut>();
  private destroyed = false;

  private constructor(readonly plan: NetnsPlan, private readonly lockFile: string) {}

  /** Builds the namespaces for nodes `ids`; on any failure removes what was made and throws. */
  static create(ids: number[]): NetnsTopology {
    const why = netnsUnavailable();
    if (why !== null) throw new Error(`network namespaces: ${why}`);
    sweepStale();
    const { subnet, lockFile } = claimSubnet();
    const topo = new NetnsTopology(netnsPlan(process.pid, ++runCounter, subnet, ids), lockFile);
    live.add(topo);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => { for (const t of [...live]) t.destroy(); });
    }
    try {
      for (const cmd of setupCommands(topo.plan)) mustIp(cmd);
    } catch (e) {
      topo.destroy();
      throw e;
    }
    return topo;
  }

  /** The argv prefix that runs a command inside node `id`'s namespace (`ip netns exec` execs it). */
  execPrefix(id: number): string[] {
    return ['ip', 'netns', 'exec', this.plan.nodeNs(id)];
  }

  activeCuts(): Cut[] { return [...this.cuts.values()]; }

  cut(cuts: Cut[]): void {
    for (const c of cuts) {
      if (this.cuts.has(cutKey(c))) continue;
      this.cuts.set(cutKey(c), c);
      for (const cmd of cutCommands(this.plan, c, 'add')) mustIp(cmd);
    }
  }

  healAll(): void {
    for (const c of this.cuts.values()) for (const cmd of cutCommands(this.plan, c, 'del')) mustIp(cmd);
    this.cuts.clear();
  }

  /** Idempotent; never throws (runs from the exit hook). Stop the processes inside first. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const cmd of teardownCommands(this.plan)) ip(cmd);
    fs.rmSync(this.lockFile, { force: true });
    live.delete(this);
  }
}
