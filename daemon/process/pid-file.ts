/**
 * `-P FILE`: the daemon's PID, written once it serves (so a PID in the file means a daemon that got
 * as far as listening), removed on a clean exit. memcached writes it only with -d; mucached writes
 * it whenever -P is given, which a service manager watching the file also wants without -d.
 */
import * as fs from 'fs';

export function writePidFile(file: string): void {
  // Written whole under another name, then renamed: a reader never sees a half-written PID.
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
  fs.renameSync(temp, file);
}

/** Removes `file` if it still names this process (a successor may have written its own). */
export function removePidFile(file: string): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    // Gone already, or unreadable: nothing of ours to remove.
  }
}
