/**
 * Cluster configuration: which nodes form the group, where each listens, which fabric joins them.
 * Every problem names the file and the field at fault, because operators edit these by hand.
 *
 * File format (JSON):
 *   {
 *     "cluster": "prod-cache",                 // namespace: regions and names never collide across clusters
 *     "fabric": { "kind": "shm" | "tcp" | "verbs", "shmDir"?, "device"?, "gid"?, "herald"? },  // herald: tcp, default true
 *     "secret": "...",  or  "secretFile": "/etc/mucached/secret"   // tcp: required
 *     "nodes": [ { "id": 1, "host": "10.0.0.1", "clientPort": 11211, "fabricPort": 11311, "peerPort": 11411 }, ... ]
 *   }
 * The old tools' environment is honoured: SID is this node's id, IDS=1,2,3 the group's ids. Without a
 * file, IDS alone describes a local group on 127.0.0.1 with ports 11211+i and 11311+i.
 */
import * as fs from 'fs';
import * as path from 'path';

export type FabricKind = 'shm' | 'tcp' | 'verbs';

export interface NodeEntry {
  id: number;
  host: string;
  clientPort: number;
  fabricPort: number;
  /** The daemons' own link (forwarded writes, snapshots); defaults to fabricPort + 100. */
  peerPort: number;
}

export interface ClusterConfig {
  /** Where it came from, for messages. */
  source: string;
  cluster: string;
  /** herald (tcp): run the death herald (binding/src/herald.h); undefined means yes. */
  fabric: { kind: FabricKind; shmDir?: string; device?: string; gid?: string; herald?: boolean };
  secret?: string;
  nodes: NodeEntry[];
}

export class ConfigError extends Error {
  constructor(source: string, field: string, problem: string) {
    super(`${source}: ${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_CLIENT_PORT = 11211;
export const DEFAULT_FABRIC_PORT = 11311;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function port(source: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ConfigError(source, field, `must be a TCP port 1..65535, got ${JSON.stringify(v)}`);
  }
  return v;
}

function optionalString(source: string, obj: Record<string, unknown>, field: string, prefix: string): string | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(source, `${prefix}${field}`, 'must be a non-empty string');
  return v;
}

function heraldOption(source: string, fabric: Record<string, unknown>, kind: FabricKind): boolean | undefined {
  const v = fabric.herald;
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(source, 'fabric.herald', `must be true or false, got ${JSON.stringify(v)}`);
  if (kind !== 'tcp') throw new ConfigError(source, 'fabric.herald', `only the tcp fabric has death heralds (this one is ${kind})`);
  return v;
}

/** Validate a parsed config object. `baseDir` resolves a relative secretFile. */
export function validateConfig(raw: unknown, source: string, baseDir = '.'): ClusterConfig {
  if (!isObject(raw)) throw new ConfigError(source, '(top level)', 'must be a JSON object');
  const known = new Set(['cluster', 'fabric', 'secret', 'secretFile', 'nodes', 'comment']);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new ConfigError(source, key, `unknown field (known: ${[...known].join(', ')})`);
  }
  const cluster = optionalString(source, raw, 'cluster', '') ?? 'mucached';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(cluster)) throw new ConfigError(source, 'cluster', 'use 1-64 letters, digits, _ . -');

  if (!isObject(raw.fabric)) throw new ConfigError(source, 'fabric', 'must be an object like {"kind": "shm"}');
  const kind = raw.fabric.kind;
  if (kind !== 'shm' && kind !== 'tcp' && kind !== 'verbs') {
    throw new ConfigError(source, 'fabric.kind', `must be "shm", "tcp" or "verbs", got ${JSON.stringify(kind)}`);
  }
  const fabric = {
    kind: kind as FabricKind,
    shmDir: optionalString(source, raw.fabric, 'shmDir', 'fabric.'),
    device: optionalString(source, raw.fabric, 'device', 'fabric.'),
    gid: optionalString(source, raw.fabric, 'gid', 'fabric.'),
    herald: heraldOption(source, raw.fabric, kind),
  };

  let secret = optionalString(source, raw, 'secret', '');
  const secretFile = optionalString(source, raw, 'secretFile', '');
  if (secret !== undefined && secretFile !== undefined) throw new ConfigError(source, 'secretFile', 'give either secret or secretFile, not both');
  if (secretFile !== undefined) {
    const file = path.resolve(baseDir, secretFile);
    try {
      secret = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(source, 'secretFile', `cannot read ${file}: ${(err as Error).message}`);
    }
    if (secret.length === 0) throw new ConfigError(source, 'secretFile', `${file} is empty`);
  }
  if (fabric.kind !== 'shm' && secret === undefined) {
    // Nodes on other hosts authenticate each other (fabric and peer links) with it.
    throw new ConfigError(source, 'secret', `the ${fabric.kind} fabric needs a cluster secret (secret or secretFile)`);
  }

  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0) throw new ConfigError(source, 'nodes', 'must be a non-empty array');
  const nodes: NodeEntry[] = raw.nodes.map((n: unknown, i: number) => {
    const at = `nodes[${i}]`;
    if (!isObject(n)) throw new ConfigError(source, at, 'must be an object');
    if (typeof n.id !== 'number' || !Number.isInteger(n.id) || n.id < 1 || n.id > 64) {
      throw new ConfigError(source, `${at}.id`, `must be an integer 1..64, got ${JSON.stringify(n.id)}`);
    }
    const host = n.host === undefined ? '127.0.0.1' : n.host;
    if (typeof host !== 'string' || host.length === 0) throw new ConfigError(source, `${at}.host`, 'must be a host name or address');
    const fabricPort = port(source, `${at}.fabricPort`, n.fabricPort ?? DEFAULT_FABRIC_PORT + n.id - 1);
    return {
      id: n.id,
      host,
      clientPort: port(source, `${at}.clientPort`, n.clientPort ?? DEFAULT_CLIENT_PORT + n.id - 1),
      fabricPort,
      peerPort: port(source, `${at}.peerPort`, n.peerPort ?? fabricPort + 100),
    };
  });
  const seen = new Set<number>();
  const endpoints = new Map<string, string>();
  nodes.forEach((n, i) => {
    if (seen.has(n.id)) throw new ConfigError(source, `nodes[${i}].id`, `duplicate node id ${n.id}`);
    seen.add(n.id);
    for (const [what, p] of [['clientPort', n.clientPort], ['fabricPort', n.fabricPort], ['peerPort', n.peerPort]] as const) {
      const endpoint = `${n.host}:${p}`;
      const other = endpoints.get(endpoint);
      if (other) throw new ConfigError(source, `nodes[${i}].${what}`, `${endpoint} is already used by ${other}`);
      endpoints.set(endpoint, `nodes[${i}].${what}`);
    }
  });
  nodes.sort((a, b) => a.id - b.id);
  return { source, cluster, fabric, secret, nodes };
}

export function loadConfigFile(file: string): ClusterConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '(file)', `cannot read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, '(file)', `not valid JSON: ${(err as Error).message}`);
  }
  return validateConfig(raw, file, path.dirname(file));
}

/** The group from IDS=1,2,3 alone: local nodes with the default port numbering. */
export function configFromIds(ids: string, fabricKind: FabricKind, secret?: string): ClusterConfig {
  const parts = ids.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const raw = {
    cluster: 'mucached',
    fabric: { kind: fabricKind },
    secret: secret ?? (fabricKind === 'tcp' ? 'mucached-local-only' : undefined),
    nodes: parts.map((p) => ({ id: Number(p) })),
  };
  return validateConfig(raw, `IDS=${ids}`);
}

/** Resolve this node's id: --id wins, then SID; it must be one of the config's nodes. */
export function resolveSelf(config: ClusterConfig, idArg: number | undefined, env: NodeJS.ProcessEnv): NodeEntry {
  const fromEnv = env.SID !== undefined ? Number(env.SID) : undefined;
  const id = idArg ?? fromEnv;
  if (id === undefined || !Number.isInteger(id)) {
    throw new ConfigError(config.source, 'id', `which node is this? pass --id N or set SID (nodes: ${config.nodes.map((n) => n.id).join(', ')})`);
  }
  const self = config.nodes.find((n) => n.id === id);
  if (!self) throw new ConfigError(config.source, 'nodes', `no node with id ${id} (nodes: ${config.nodes.map((n) => n.id).join(', ')})`);
  return self;
}

/** IDS restricts a config file's group to those ids (the old tools' way to run a subset). */
export function restrictToIds(config: ClusterConfig, ids: string | undefined): ClusterConfig {
  if (ids === undefined || ids.trim() === '') return config;
  const wanted = ids.split(',').map((s) => Number(s.trim()));
  for (const id of wanted) {
    if (!config.nodes.some((n) => n.id === id)) throw new ConfigError(config.source, 'nodes', `IDS names node ${id}, which the file does not define`);
  }
  return { ...config, nodes: config.nodes.filter((n) => wanted.includes(n.id)) };
}
