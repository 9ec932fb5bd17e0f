/**
 * V8's heap options for a daemon holding up to `-m` megabytes of items.
 *
 * The old generation's initial limit: every value the cache keeps is an ArrayBuffer that V8 counts
 * toward its old generation, and with the default (small) initial limit a stream of large sets
 * made V8 run a full mark-compact every few dozen megabytes written: those collections took most
 * of the CPU. Measured on 100 KB sets at -m 64, 16 connections, 4 s: 230 full GCs and 7,180
 * sets/s by default; 67 and 10,679 sets/s with the limit below, for 40 MB more resident memory
 * (226 MB instead of 186).
 * V8 reads these only when the heap is created, so they go on node's command line, not in code
 * (v8.setFlagsFromString has no effect on them, and NODE_OPTIONS refuses the first).
 */

/** Room above the items for everything else (connections, indexes, garbage between collections). */
const HEAP_ROOM_MB = 64;
const MIN_OLD_SPACE_MB = 128;

/**
 * The young generation's semi-space cap. Each request leaves a few KB of short-lived objects, so at
 * tens of thousands of writes per second V8's default cap (16 MB) meant a scavenge every 60-100 ms,
 * each stopping the event loop for 1.2-1.8 ms here (the items written since the last one survive
 * it): the replicated set's 99th percentile was those pauses. Twice the cap halves how many requests
 * wait behind one. Measured on a 3-node shm cluster, 16 connections of sets, 7 alternated runs:
 * p99 median 1.51 ms by default, 1.08 ms with 32; throughput and p50 unchanged; about 25 MB more
 * resident memory per node.
 */
const MAX_SEMI_SPACE_MB = 32;

/** The node option for V8's old generation of a daemon started with `-m memoryLimitMb`. */
export function oldSpaceOption(memoryLimitMb: number): string {
  const mb = Math.max(MIN_OLD_SPACE_MB, Math.ceil(memoryLimitMb) + HEAP_ROOM_MB);
  return `--initial-old-space-size=${mb}`;
}

/** Every heap option node needs for a daemon started with `-m memoryLimitMb` (before the script). */
export function heapOptions(memoryLimitMb: number): string[] {
  return [oldSpaceOption(memoryLimitMb), `--max-semi-space-size=${MAX_SEMI_SPACE_MB}`];
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
