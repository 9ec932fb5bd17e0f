/**
 * Pure parts of the bench's 3-node clusters: the config file a run writes (free ports, a unique
 * cluster name and a random secret are passed in), the `stats mu` reply parsed, and the rule for
 * when a group has agreed on its leader.
 */
export type ClusterFabric = 'shm' | 'tcp';
export const CLUSTER_FABRICS: readonly ClusterFabric[] = ['shm', 'tcp'];

export interface ClusterNodePorts {
  id: number;
  clientPort: number;
  fabricPort: number;
  peerPort: number;
}

/**
 * The JSON mucached's `--config` reads (daemon/cluster-config.ts), all nodes on loopback.
 * `herald`: tcp only, the config's fabric.herald (absent: the daemon's default, on).
 */
export function clusterConfigJson(name: string, fabric: ClusterFabric, secret: string, nodes: ClusterNodePorts[], herald?: boolean): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error(`cluster name '${name}': use 1-64 letters, digits, _ . -`);
  const ids = new Set(nodes.map((n) => n.id));
  if (ids.size !== nodes.length) throw new Error('cluster node ids must be distinct');
  return JSON.stringify({
    cluster: name,
    fabric: herald === undefined ? { kind: fabric } : { kind: fabric, herald },
    secret,
    nodes: nodes.map((n) => ({ id: n.id, host: '127.0.0.1', clientPort: n.clientPort, fabricPort: n.fabricPort, peerPort: n.peerPort })),
  }, null, 2) + '\n';
}

/** `STAT name value` lines of a stats reply, by name (values kept as text). */
export function parseStats(reply: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (m !== null) out.set(m[1], m[2]);
  }
  return out;
}

export interface MuView {
  role: string;
  leaderId: number;
  /** Writes this node has replicated as leader since it started (the dump's sample count, untrimmed). */
  replicatedWrites: number;
}

export function muView(stats: Map<string, string>): MuView {
  const num = (name: string): number => {
    const v = Number(stats.get(name));
    return Number.isFinite(v) ? v : 0;
  };
  return { role: stats.get('mu_role') ?? '', leaderId: num('mu_leader_id'), replicatedWrites: num('mu_replicated_writes') };
}

/**
 * The id of the leader when exactly one node says it leads and every node answered and names it;
 * null while the group is still deciding (or a node is down: a bench wants the whole group up).
 */
export function agreedLeader(views: Array<{ id: number; view: MuView | null }>): number | null {
  if (views.length === 0 || views.some((v) => v.view === null)) return null;
  const leaders = views.filter((v) => v.view?.role === 'leader');
  if (leaders.length !== 1) return null;
  const id = leaders[0].id;
  return views.every((v) => v.view?.leaderId === id) ? id : null;
}
