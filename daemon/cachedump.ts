/**
 * `stats cachedump <class> <limit>`: the keys of one slab class, as memcached 1.6.18 prints them
 * (`ITEM <key> [<value bytes> b; <absolute expiry, 0 = never> s]`, then END), which libmemcached's
 * `memcdump` reads to list a server's keys. memcached walks only its class's HOT LRU, so an item
 * that aged into COLD is missing from its dump; this one lists every live item of the class, most
 * recently used first. As in memcached, items with binary keys are skipped, a limit of 0 means all,
 * and the reply stops before 2 MB.
 */
import type { ItemStore } from './cache/store';

/** memcached's cap on one cachedump reply. */
const CACHEDUMP_MAX_BYTES = 2 * 1024 * 1024;

export function cachedumpText(store: ItemStore, classId: number, limit: number): string {
  let out = '';
  let shown = 0;
  for (const item of store.entriesNewestFirst()) {
    if (limit !== 0 && shown >= limit) break;
    if (item.keyBinary || store.deadReason(item) !== undefined || item.cls !== classId) continue;
    // memcached copies the key as a C string: a NUL ends it.
    const key = item.key.toString('latin1');
    const nul = key.indexOf('\0');
    const line = `ITEM ${nul < 0 ? key : key.slice(0, nul)} [${item.value.length} b; ${item.exptimeSec} s]\r\n`;
    if (out.length + line.length + 5 > CACHEDUMP_MAX_BYTES) break;
    out += line;
    shown++;
  }
  return `${out}END\r\n`;
}
