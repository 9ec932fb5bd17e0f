/**
 * `lru_crawler metadump all|hash|<class ids>`: one line per live item, as memcached 1.6.18 prints
 * them, so `memcached-tool HOST dump` and `keys` (Debian's memcached package) list and copy a
 * mucached's items: key (URI-encoded), expiry (-1 = never), last access, CAS unique, fetched, slab
 * class (the class memcached would store the item in, stats-report.ts) and item size, then END.
 * Items are listed from least to most recently used; memcached crawls its classes side by side, so
 * its order differs. The dump is of this node's store (in a cluster, every node holds every item).
 */
import type { ItemStore, StoredItem } from './cache/store';
import { slabClassOf, slabClassSizes } from './cache/slab-classes';

/** memcached's URI encoding of keys: letters, digits and -._~ stay, every other byte is %XX. */
export function uriEncodeKey(key: Buffer): string {
  let out = '';
  for (const byte of key) {
    const unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
      || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function itemLine(item: StoredItem, cls: number): string {
  const exp = item.exptimeSec === 0 ? -1 : item.exptimeSec;
  return `key=${uriEncodeKey(item.key)} exp=${exp} la=${item.lastAccessSec} cas=${item.cas} fetch=${item.fetched ? 'yes' : 'no'} cls=${cls} size=${item.bytes}\n`;
}

/** The dump's text, END included; `classes` undefined = every class. Dead items are left out. */
export function metadumpText(store: ItemStore, itemSizeMaxBytes: number, classes?: ReadonlySet<number>): string {
  const sizes = slabClassSizes(itemSizeMaxBytes);
  const lines: string[] = [];
  for (const item of store.entries()) {
    if (store.deadReason(item) !== undefined) continue;
    const cls = slabClassOf(item.bytes, sizes);
    if (classes === undefined || classes.has(cls)) lines.push(itemLine(item, cls));
  }
  return `${lines.join('')}END\r\n`;
}
