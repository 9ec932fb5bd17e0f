/**
 * V8's initial old-generation limit for a daemon holding up to `-m` megabytes of items. Every value
 * the cache keeps is an ArrayBuffer that V8 counts toward its old generation, and with the default
 * (small) initial limit a stream of large sets made V8 run a full mark-compact every few dozen
 * megabytes written: those collections took most of the CPU. Measured on 100 KB sets at -m 64, 16
 * connections, 4 s: 230 full GCs and 7,180 sets/s by default; 67 and 10,679 sets/s with the limit
 * below, for 40 MB more resident memory (226 MB instead of 186).
 * V8 reads it only when the heap is created, so it goes on node's command line, not in code
 * (v8.setFlagsFromString has no effect on it, and NODE_OPTIONS refuses it).
 */

/** Room above the items for everything else (connections, indexes, garbage between collections). */
const HEAP_ROOM_MB = 64;
const MIN_OLD_SPACE_MB = 128;

/** The node option for a daemon started with `-m memoryLimitMb`. */
export function oldSpaceOption(memoryLimitMb: number): string {
  const mb = Math.max(MIN_OLD_SPACE_MB, Math.ceil(memoryLimitMb) + HEAP_ROOM_MB);
  return `--initial-old-space-size=${mb}`;
}

/** The `-m` value among daemon arguments (memcached's default, 64, when absent). */
export function memoryLimitMbOf(daemonArgs: readonly string[]): number {
  for (let k = 0; k < daemonArgs.length; k++) {
    const a = daemonArgs[k];
    const inline = /^(?:-m|--memory-limit)=?(\d+)$/.exec(a);
    if (inline !== null) return Number(inline[1]);
    if ((a === '-m' || a === '--memory-limit') && k + 1 < daemonArgs.length && /^\d+$/.test(daemonArgs[k + 1])) return Number(daemonArgs[k + 1]);
  }
  return 64;
}
