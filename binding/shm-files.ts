/**
 * The shm fabric's files of one cluster, named as the backend names them (src/shm_backend.cc:
 * `<dir>/mucached-<cluster>-n<id>-<region>` and `<dir>/mucached-<cluster>-n<id>.pid`). A node that
 * exits removes its own; one killed with SIGKILL leaves them, so tools and tests that kill nodes
 * remove a finished cluster's files with this.
 */
import * as fs from 'fs';
import * as path from 'path';

export function removeShmClusterFiles(cluster: string, dir = '/dev/shm'): void {
  if (!fs.existsSync(dir)) return;
  const prefix = `mucached-${cluster}-`;
  for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix)) fs.rmSync(path.join(dir, f), { force: true });
}
