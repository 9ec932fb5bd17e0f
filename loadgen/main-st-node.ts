/**
 * One member of a main-st group: opens this process's fabric, runs a MuNode, and either measures
 * (the lowest id, once it leads) or follows until SIGINT/SIGTERM, as the old tools did.
 */
import { performance as perf } from 'perf_hooks';
import type { Fabric, FabricOptions, PeerAddress } from '../binding/fabric';
import type { MuConfig } from '../mu-core/config';
import type { MuLogger } from '../mu-core/logger';
import { MuNode, StateTransferHooks } from '../mu-core/node';
import { rehearseTakeOver } from '../mu-core/rehearsal';
import { RealScheduler } from '../mu-core/scheduler';
import type { FabricKind } from './main-st-common';

export interface GroupMember {
  selfId: number;
  members: PeerAddress[];
  fabric: FabricKind;
  cluster: string;
  secret?: string;
  /** tcp: run a death herald (binding/src/herald.h); default true. */
  herald?: boolean;
  config: MuConfig;
  onEntry?: (index: number, payload: Buffer) => void;
  stateTransfer?: StateTransferHooks;
  /** MuNode onLeaderChange: role or known leader changed. */
  onLeaderChange?: () => void;
  /**
   * Rehearse a take-over first (mu-core/rehearsal.ts): for members that measure fail-overs. Not for
   * main-st / main-st-lat, which measure a steady stream: the rehearsal's simulated fabric and
   * callbacks make call sites of the replication path polymorphic (main-st-lat p50 5-8% higher,
   * A/B in session 20), and no fail-over happens there.
   */
  rehearse?: boolean;
}

/** Opens the native fabric, or fails with an error that names the fabric that is missing. */
export function openNativeFabric(kind: FabricKind, selfId: number, cluster: string, self: PeerAddress, secret?: string, herald = true): Fabric {
  let open: (o: FabricOptions) => Fabric;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    open = require('../binding/index').openFabric;
  } catch (e) {
    throw new Error(`the ${kind} fabric is not available (binding/index could not be loaded: ${(e as Error).message})`);
  }
  const options: FabricOptions = { kind, selfId, cluster };
  if (kind === 'tcp') {
    if (!secret) throw new Error('the tcp fabric needs a cluster secret: --secret or env MU_SECRET');
    options.secret = secret;
    options.listenHost = self.host ?? '127.0.0.1';
    options.listenPort = self.port;
    options.herald = herald;
  }
  if (kind === 'shm' && self.host) options.shmDir = self.host;
  try {
    return open(options);
  } catch (e) {
    throw new Error(`the ${kind} fabric could not start for node ${selfId}: ${(e as Error).message}`);
  }
}

export interface RunningMember {
  node: MuNode;
  fabric: Fabric;
  stop(): void;
}

export function startMember(g: GroupMember, logger: MuLogger): RunningMember {
  const self = g.members.find((m) => m.peerId === g.selfId);
  if (self === undefined) throw new Error(`node ${g.selfId} is not a member`);
  if (g.rehearse === true) rehearseTakeOver();
  const fabric = openNativeFabric(g.fabric, g.selfId, g.cluster, self, g.secret, g.herald ?? true);
  const node = new MuNode({
    fabric,
    members: g.members,
    scheduler: new RealScheduler(),
    logger,
    config: g.config,
    incarnation: (Math.random() * 0xffffffff) >>> 0,
    onEntry: g.onEntry ?? (() => undefined),
    stateTransfer: g.stateTransfer,
    onLeaderChange: g.onLeaderChange,
  });
  node.start();
  let stopped = false;
  return {
    node,
    fabric,
    stop() {
      if (stopped) return;
      stopped = true;
      node.stop();
      fabric.close();
    },
  };
}

/**
 * Resolves once `node` has led for `stableMs` without interruption (the group's views settle in
 * the first tens of milliseconds after a start); rejects after timeoutS.
 */
export function waitForLeadership(node: MuNode, timeoutS: number, stableMs = 300): Promise<void> {
  const deadline = performance.now() + timeoutS * 1000;
  let since = -1;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (node.role !== 'leader') since = -1;
      else if (since < 0) since = performance.now();
      if (since >= 0 && performance.now() - since >= stableMs) return resolve();
      if (performance.now() > deadline) return reject(new Error(`node ${node.selfId} did not become leader within ${timeoutS} s (are the other members running?)`));
      setTimeout(check, 1);
    };
    check();
  });
}

/** Followers run until told to stop, like the old tools (Ctrl-C). */
export function followUntilSignalled(member: RunningMember): void {
  const stop = () => {
    member.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/**
 * Keeps `outstanding` proposals in flight until `total` committed; `onCommitted` gets each one's
 * propose-to-commit time in ns. The JS thread yields to the event loop about every 0.2 ms so
 * heartbeats and scans keep running while it replicates. One callback serves every proposal and the
 * start times wait in a ring (a leader commits in proposal order), so the tool itself allocates
 * nothing per entry: what it measures is the replication, not its own garbage. For the same reason
 * it reads the clock once per entry, not twice: a proposal issued from a commit's callback starts
 * at that commit's timestamp (so its latency includes the callback's own work). A clock read costs
 * about 50 ns on this machine, through `performance`, a getter on the global object, 10 more.
 */
export function drive(
  node: MuNode,
  payload: Buffer,
  total: number,
  outstanding: number,
  onCommitted: (latencyNs: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let issued = 0;
    let committed = 0;
    let failed: Error | null = null;
    let sliceStart = performance.now();
    const startMs = new Float64Array(outstanding);
    let oldest = 0;
    // Issues owed after a yield go out together in one turn, so they still batch.
    let owed = 0;
    const payOwed = () => {
      sliceStart = performance.now();
      const n = owed;
      owed = 0;
      for (let k = 0; k < n; k++) issue();
    };
    const onDecided = (err: Error | null) => {
      if (err !== null) {
        if (failed === null) {
          failed = err;
          reject(err);
        }
        return;
      }
      const now = perf.now();
      onCommitted(Math.round((now - startMs[oldest]) * 1e6));
      oldest = (oldest + 1) % outstanding;
      committed++;
      if (committed === total) return resolve();
      if (now - sliceStart > 0.2) {
        if (owed++ === 0) setImmediate(payOwed);
      } else {
        issue(now);
      }
    };
    const issue = (nowMs?: number) => {
      if (failed !== null || issued >= total) return;
      startMs[(oldest + issued - committed) % outstanding] = nowMs ?? perf.now();
      issued++;
      node.proposeCb(payload, onDecided);
    };
    for (let k = 0; k < outstanding; k++) issue();
  });
}

/** Warm-up that survives the start-up churn of leadership: on NotLeader/LostLeadership, wait and retry. */
export async function warmUp(node: MuNode, payload: Buffer, count: number, outstanding: number, timeoutS: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await waitForLeadership(node, timeoutS);
    try {
      if (count > 0) await drive(node, payload, count, outstanding, () => undefined);
      return;
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
}
