/**
 * The chaos run's network, as `ip` argument lists (pure: nothing here runs a command).
 *
 * Topology of one run, all names unique per process and run so parallel runs never collide:
 *   switch namespace `mucx-<pid>-<run>-sw` holding bridge br0;
 *   node namespace `mucx-<pid>-<run>-n<id>` per node, its eth0 (10.77.<subnet>.<id>) a veth into br0;
 *   one veth `mux<pid>x<run>` from the root namespace into br0 (10.77.<subnet>.254) so clients in
 *   the root namespace reach every node.
 * A partition is a set of blackhole /32 routes inside node namespaces (both directions of every cut
 * link), healed by deleting them; the client address .254 is never cut. Nothing outside these
 * namespaces and the one root-side veth is touched.
 */
export const NS_PREFIX = 'mucx-';
export const CLIENT_HOST_OCTET = 254;

export interface NetnsPlan {
  pid: number;
  run: number;
  /** Third octet of 10.77.x.0/24, chosen free by the caller. */
  subnet: number;
  ids: number[];
  switchNs: string;
  rootIf: string;
  nodeNs: (id: number) => string;
  nodeAddress: (id: number) => string;
  clientAddress: string;
}

export function netnsPlan(pid: number, run: number, subnet: number, ids: number[]): NetnsPlan {
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new Error(`subnet octet ${subnet} out of range`);
  for (const id of ids) if (!Number.isInteger(id) || id < 1 || id > 253) throw new Error(`node id ${id}: must be 1..253 (it is the host octet)`);
  const base = `${NS_PREFIX}${pid}-${run}`;
  const rootIf = `mux${pid}x${run}`;
  // Linux interface names hold 15 characters.
  if (rootIf.length > 15) throw new Error(`interface name ${rootIf} is longer than 15 characters`);
  return {
    pid,
    run,
    subnet,
    ids: [...ids],
    switchNs: `${base}-sw`,
    rootIf,
    nodeNs: (id) => `${base}-n${id}`,
    nodeAddress: (id) => `10.77.${subnet}.${id}`,
    clientAddress: `10.77.${subnet}.${CLIENT_HOST_OCTET}`,
  };
}

/** `ip` argument lists that build the topology, in order. */
export function setupCommands(p: NetnsPlan): string[][] {
  const sw = p.switchNs;
  const cmds: string[][] = [
    ['netns', 'add', sw],
    ['-n', sw, 'link', 'set', 'lo', 'up'],
    ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', sw, 'link', 'set', 'br0', 'up'],
  ];
  for (const id of p.ids) {
    const ns = p.nodeNs(id);
    cmds.push(
      ['netns', 'add', ns],
      ['-n', ns, 'link', 'set', 'lo', 'up'],
      ['link', 'add', 'name', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `n${id}`, 'netns', sw],
      ['-n', sw, 'link', 'set', `n${id}`, 'master', 'br0'],
      ['-n', sw, 'link', 'set', `n${id}`, 'up'],
      ['-n', ns, 'addr', 'add', `${p.nodeAddress(id)}/24`, 'dev', 'eth0'],
      ['-n', ns, 'link', 'set', 'eth0', 'up'],
    );
  }
  cmds.push(
    ['link', 'add', 'name', p.rootIf, 'type', 'veth', 'peer', 'name', 'host', 'netns', sw],
    ['-n', sw, 'link', 'set', 'host', 'master', 'br0'],
    ['-n', sw, 'link', 'set', 'host', 'up'],
    ['addr', 'add', `${p.clientAddress}/24`, 'dev', p.rootIf],
    ['link', 'set', p.rootIf, 'up'],
  );
  return cmds;
}

/** `ip` argument lists that remove everything setupCommands made (each may fail if never made). */
export function teardownCommands(p: NetnsPlan): string[][] {
  return [['link', 'del', p.rootIf], ...p.ids.map((id) => ['netns', 'del', p.nodeNs(id)]), ['netns', 'del', p.switchNs]];
}

/** A cut link between two nodes (unordered: both directions are blocked). */
export type Cut = readonly [number, number];

export function cutKey(c: Cut): string {
  return c[0] < c[1] ? `${c[0]}-${c[1]}` : `${c[1]}-${c[0]}`;
}

/** Every link between a node of `a` and a node of `b`. */
export function cutsBetween(a: number[], b: number[]): Cut[] {
  const out: Cut[] = [];
  for (const x of a) for (const y of b) if (x !== y) out.push([x, y]);
  return out;
}

/** The blackhole routes (add or del) of one cut: in x's namespace towards y, and back. */
export function cutCommands(p: NetnsPlan, c: Cut, op: 'add' | 'del'): string[][] {
  const [x, y] = c;
  return [
    ['-n', p.nodeNs(x), 'route', op, 'blackhole', `${p.nodeAddress(y)}/32`],
    ['-n', p.nodeNs(y), 'route', op, 'blackhole', `${p.nodeAddress(x)}/32`],
  ];
}

/** The pid that made a namespace of ours, from its name (null: not one of ours). */
export function ownerPid(nsName: string): number | null {
  const m = new RegExp(`^${NS_PREFIX}(\\d+)-\\d+-(sw|n\\d+)$`).exec(nsName);
  return m === null ? null : Number(m[1]);
}
