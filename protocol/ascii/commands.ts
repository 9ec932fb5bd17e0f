/**
 * What the ASCII parser hands to the handler: text-protocol and meta-protocol commands, already
 * validated the way memcached validates them, plus the canned replies memcached writes for
 * malformed input. Keys and values are raw bytes.
 */
import type { MetaFlags } from './meta-flags';

/** The storage commands; the same names the cache's StoreOp uses. */
export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';

export type GetVariant = 'get' | 'gets' | 'gat' | 'gats';

/** What `watch` may ask for (memcached's log types, the proxy ones aside). */
export type WatchType = 'fetchers' | 'mutations' | 'evictions' | 'connevents';

export type AsciiCommand =
  | { kind: 'get'; variant: GetVariant; exptime: number; keys: Buffer[]; keyTooLong: boolean }
  /**
   * `valueOwned`: `value` sits alone in a buffer the parser allocated for it (a value longer than
   * what one read brought), referenced by nothing else, so the cache may keep it without a copy.
   * Otherwise it is a view of the read chunk, valid only while the command is handled.
   */
  | { kind: 'store'; mode: StoreMode; key: Buffer; flags: number; exptime: number; cas: bigint; value: Buffer; valueOwned: boolean; noreply: boolean }
  /** Value over the item-size limit; its bytes are swallowed by the parser. */
  | { kind: 'tooLarge'; mode: StoreMode; key: Buffer; noreply: boolean; meta: boolean }
  /** The data block did not end in \r\n; `noreply` already accounts for ms always replying. */
  | { kind: 'badDataChunk'; noreply: boolean }
  | { kind: 'arith'; incr: boolean; key: Buffer; delta: bigint; noreply: boolean }
  | { kind: 'delete'; key: Buffer; noreply: boolean }
  | { kind: 'touch'; key: Buffer; exptime: number; noreply: boolean }
  | { kind: 'flush'; delay: number; noreply: boolean }
  | { kind: 'stats'; words: string[] }
  | { kind: 'version' }
  | { kind: 'verbosity'; level: number; noreply: boolean }
  | { kind: 'quit' }
  /** `lru_crawler metadump all|hash|<ids>`: every class (`all`), or those class ids (each 1..63). */
  | { kind: 'metadump'; classes: number[] | 'all' }
  /** The LRU crawler's other subcommands: `crawl all|<ids>`, `enable`, `disable`, `sleep <us>`, `tocrawl <n>`. */
  | { kind: 'crawler'; action: 'crawl'; classes: number[] | 'all' }
  | { kind: 'crawler'; action: 'enable' | 'disable' }
  | { kind: 'crawler'; action: 'sleep'; sleepUs: number }
  | { kind: 'crawler'; action: 'tocrawl'; toCrawl: number }
  /** `watch [types]`: the connection becomes a log watcher (fetchers when no type is named);
   *  'invalid': a type memcached does not know (ERROR, unless -W refuses every watch first). */
  | { kind: 'watch'; types: WatchType[] | 'invalid' }
  /** `refresh_certs`: reload the TLS certificate files (-Z). */
  | { kind: 'refreshCerts'; noreply: boolean }
  /** `cache_memlimit <megabytes>`: the item memory limit, changed at run time (uint32 as memcached reads it). */
  | { kind: 'memlimit'; megabytes: number; noreply: boolean }
  /** `shutdown` (now), `shutdown graceful`, or anything else after the word (refused as memcached does). */
  | { kind: 'shutdown'; mode: 'now' | 'graceful' | 'invalid' }
  /** A fixed reply line (without \r\n), e.g. ERROR or a CLIENT_ERROR; `count` names a counter
   *  memcached bumps even though the command failed. */
  | { kind: 'reply'; line: string; noreply: boolean; count?: 'cmd_flush' }
  | { kind: 'close'; reason: string }
  | { kind: 'mg'; key: Buffer; flags: MetaFlags }
  | { kind: 'ms'; key: Buffer; flags: MetaFlags; value: Buffer }
  | { kind: 'md'; key: Buffer; flags: MetaFlags }
  | { kind: 'ma'; key: Buffer; flags: MetaFlags }
  | { kind: 'me'; key: Buffer; binaryKey: boolean };
