/**
 * The durable mark that a node ran in its cluster before: mu-core's `startedBefore`.
 *
 * A node keeps its log in memory only, so after a restart it may have forgotten entries it accepted,
 * and its peers' control words cannot always tell (an entry decided with one other member that has
 * not yet learnt it was decided shows nowhere else). A node that knows it restarted never votes
 * before a leader has synced it. A small file in the state directory is how it knows: created on
 * the first start (and flushed to disk before the node joins), found on every later one.
 *
 * Without a state directory nothing is known, and mu-core judges by what the peers show, which
 * misses that case; the daemon says so at start.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface MembershipMark {
  /** mu-core's startedBefore: undefined when there is no state directory. */
  startedBefore: boolean | undefined;
  /** One line for the log: what the mark says, and where it is. */
  said: string;
}

/** The mark's file name: one per cluster name and node id, so one directory may serve several. */
export function markFileName(cluster: string, nodeId: number): string {
  return `member-${cluster.replace(/[^A-Za-z0-9_.-]/g, '_')}-node${nodeId}`;
}

/**
 * Finds or creates the mark in `stateDir` (created if missing, not its parents). Throws, naming the path, when the
 * directory or the file cannot be written: a node that cannot remember its membership must not
 * start as if it could.
 */
export function readOrCreateMark(stateDir: string | undefined, cluster: string, nodeId: number): MembershipMark {
  if (stateDir === undefined || stateDir === '') {
    return {
      startedBefore: undefined,
      said: 'no state directory (--state-dir, or $STATE_DIRECTORY as systemd sets it): a restart of this node cannot be told from its first start, ' +
        'so a restarted node that sees no history at its peers votes at once; give it a state directory',
    };
  }
  const file = path.join(stateDir, markFileName(cluster, nodeId));
  try {
    // Not recursive: Node's recursive mkdir spins forever under /proc, and a missing parent is
    // more likely a typo than a tree to create.
    fs.mkdirSync(stateDir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`state directory ${stateDir}: cannot create it: ${(err as Error).message}`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`state directory ${stateDir}: cannot write ${file}: ${(err as Error).message}`);
    return { startedBefore: true, said: `node ${nodeId} ran in cluster ${cluster} before (${file}${firstStart(file)}): it restarted empty and votes again once a leader has synced it` };
  }
  try {
    fs.writeSync(fd, `${JSON.stringify({ cluster, nodeId, firstStartedAt: new Date().toISOString(), pid: process.pid })}\n`);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw new Error(`state directory ${stateDir}: cannot write ${file}: ${(err as Error).message}`);
  }
  fs.closeSync(fd);
  syncDirectory(stateDir);
  return { startedBefore: false, said: `first start of node ${nodeId} in cluster ${cluster}: marked in ${file}` };
}

/** ", first started <time>" from the mark's contents, or nothing if they are unreadable (the file alone is the mark). */
function firstStart(file: string): string {
  try {
    const at = (JSON.parse(fs.readFileSync(file, 'utf8')) as { firstStartedAt?: unknown }).firstStartedAt;
    return typeof at === 'string' ? `, first started ${at}` : '';
  } catch {
    return '';
  }
}

/** The new file's directory entry reaches the disk too (a crash right after could lose it otherwise). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the file itself is synced.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
