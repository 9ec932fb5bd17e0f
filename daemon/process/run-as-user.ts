/**
 * `-u USER`: a daemon started as root runs as USER, as memcached does: supplementary groups dropped,
 * then the user's primary group, then the user. It happens before any port, socket or fabric file is
 * opened, so everything the daemon creates belongs to USER (a cluster's shm region files must be
 * openable by its peers, which run as the same user). Ports below 1024 then need
 * CAP_NET_BIND_SERVICE. Not root: memcached ignores -u, and so do we (saying so).
 */
import { execFileSync } from 'child_process';

/** memcached's exit codes for these failures (sysexits.h). */
export const EX_NOUSER = 67;
export const EX_OSERR = 71;

export class RunAsUserError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** The passwd entry of `user` (a name, or a numeric uid) through NSS (getent), or null if none. */
export function lookUpUser(user: string): PasswdEntry | null {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return null; // getent exits 2 for an unknown user
  }
  const fields = line.split(':');
  if (fields.length < 4 || !/^\d+$/.test(fields[2]) || !/^\d+$/.test(fields[3])) return null;
  return { name: fields[0], uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Switches to `user` if we run as root; returns the line to log. Throws RunAsUserError. */
export function runAsUser(user: string): string {
  if (process.getuid === undefined || process.setuid === undefined || process.setgid === undefined || process.setgroups === undefined) {
    throw new RunAsUserError('-u is not supported on this platform', EX_OSERR);
  }
  if (process.getuid() !== 0 && process.geteuid?.() !== 0) return `not started as root: -u ${user} has nothing to do`;
  const entry = lookUpUser(user);
  if (entry === null) throw new RunAsUserError(`can't find the user ${user} to switch to`, EX_NOUSER);
  try {
    process.setgroups([]);
    process.setgid(entry.gid);
    process.setuid(entry.uid);
  } catch (err) {
    throw new RunAsUserError(`failed to assume identity of user ${user}: ${(err as Error).message}`, EX_OSERR);
  }
  return `running as user ${entry.name} (uid ${entry.uid}, gid ${entry.gid})`;
}
