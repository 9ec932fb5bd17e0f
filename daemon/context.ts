/**
 * What a protocol handler may use besides the cache: counters to bump, stats to report, and the
 * few server-wide actions (verbosity). Protocol handlers format; they do not own server state.
 */
import type { CacheEngine } from './cache/types';
import type { ExpiryCrawler } from './cache/crawler';
import type { PrefixStats } from './prefix-stats';
import type { SaslSettings } from './sasl/settings';

/** Counters memcached reports in `stats`; handlers increment the ones their commands touch. */
export interface CommandCounters {
  cmd_get: number;
  cmd_set: number;
  cmd_flush: number;
  cmd_touch: number;
  cmd_meta: number;
  get_hits: number;
  get_misses: number;
  get_expired: number;
  get_flushed: number;
  delete_misses: number;
  delete_hits: number;
  incr_misses: number;
  incr_hits: number;
  decr_misses: number;
  decr_hits: number;
  cas_misses: number;
  cas_hits: number;
  cas_badval: number;
  touch_hits: number;
  touch_misses: number;
  store_too_large: number;
  store_no_memory: number;
  auth_cmds: number;
  auth_errors: number;
}

export function newCommandCounters(): CommandCounters {
  return {
    cmd_get: 0, cmd_set: 0, cmd_flush: 0, cmd_touch: 0, cmd_meta: 0,
    get_hits: 0, get_misses: 0, get_expired: 0, get_flushed: 0,
    delete_misses: 0, delete_hits: 0, incr_misses: 0, incr_hits: 0, decr_misses: 0, decr_hits: 0,
    cas_misses: 0, cas_hits: 0, cas_badval: 0, touch_hits: 0, touch_misses: 0,
    store_too_large: 0, store_no_memory: 0, auth_cmds: 0, auth_errors: 0,
  };
}

/** The groups `stats <group>` accepts ('' = general). */
export type StatsGroup = '' | 'settings' | 'items' | 'slabs' | 'conns' | 'sizes' | 'mu';

export interface ServerContext {
  engine: CacheEngine;
  counters: CommandCounters;
  /** Version string reported by `version` (text) and the binary version opcode. */
  version: string;
  /** Name/value pairs for a stats group, in memcached's order; undefined = unknown group. */
  stats(group: StatsGroup): Array<[string, string]> | undefined;
  /** `stats reset`. */
  resetStats(): void;
  /** `verbosity N`. */
  setVerbosity(level: number): void;
  /**
   * `stats sizes_enable` / `sizes_disable`: turns this node's item size histogram on or off; the
   * status lines memcached answers (sizes_status, and sizes_error when it cannot).
   */
  setSizesTracking(on: boolean): Array<[string, string]>;
  /**
   * In a cluster: get, gets, mg, me and binary get wait for the promise it returns, then read this
   * node's copy (read-barrier.ts): always under `--reads linearizable`, otherwise only while the node
   * has not caught up with the group. Absent, or returning undefined, they read at once (a
   * follower's copy may lag).
   */
  readBarrier?: () => Promise<void> | undefined;
  /** `cache_memlimit`: the item memory limit of this node from now on. */
  setMemoryLimit(bytes: number): void;
  /** Largest key in bytes (250, as memcached). */
  readonly maxKeyBytes: number;
  /** -S: binary clients must authenticate (SASL PLAIN) first; text clients are refused. */
  sasl?: SaslSettings;
  /** `stats detail` (per-prefix counts), recorded by the handlers. */
  readonly prefixStats: PrefixStats;
  /** -A: the text `shutdown` command stops the daemon as SIGTERM does; absent without -A. */
  shutdown?: (why: string) => void;
  /**
   * `lru_crawler metadump`'s reply, as chunks to send in order (metadump.ts); `classes` undefined =
   * all. Each chunk after the first is made once `pause` resolves (false: stop, the rest are empty).
   */
  metadump(classes?: ReadonlySet<number>, pause?: () => Promise<boolean>): Array<Promise<Buffer>>;
  /** The expiry crawler (`lru_crawler crawl|enable|disable|sleep|tocrawl`). */
  readonly crawler: ExpiryCrawler;
  /** `stats cachedump <class> <limit>`'s text (cachedump.ts). */
  cachedump(classId: number, limit: number): string;
  /** -X: metadump and cachedump are refused. */
  dumpDisabled?: boolean;
  /** `refresh_certs`: reloads the TLS certificates; the reply line's text (without CRLF), and whether it is OK. */
  refreshCerts?(): { ok: boolean; line: string };
  /** -W: watch is refused. */
  watchDisabled?: boolean;
  /** -F: flush_all is refused. */
  flushDisabled?: boolean;
}
