/**
 * `lru_crawler metadump all|hash|<class ids>`: one line per live item, as memcached 1.6.18 prints
 * them, so `memcached-tool HOST dump` and `keys` (Debian's memcached package) list and copy a
 * mucached's items: key (URI-encoded), expiry (-1 = never), last access, CAS unique, fetched, slab
 * class (the class memcached would store the item in, stats-report.ts) and item size, then END.
 * Items are listed from least to most recently used; memcached crawls its classes side by side, so
 * its order differs. The dump is of this node's store (in a cluster, every node holds every item).
 */
import type { ItemStore, StoredItem } from './cache/store';

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

function itemLine(item: StoredItem): string {
  const exp = item.exptimeSec === 0 ? -1 : item.exptimeSec;
  return `key=${uriEncodeKey(item.key)} exp=${exp} la=${item.lastAccessSec} cas=${item.cas} fetch=${item.fetched ? 'yes' : 'no'} cls=${item.cls} size=${item.bytes}\n`;
}

const EMPTY = Buffer.alloc(0);

/** Items formatted per turn of the event loop: a large store is dumped without stalling other clients. */
export const METADUMP_CHUNK_ITEMS = 2000;

const nextTurn = (): Promise<boolean> => new Promise((resolve) => setImmediate(() => resolve(true)));

/**
 * The dump, END included, as chunks to send in order; `classes` undefined = every class. Dead items
 * are left out. The items are the ones stored when it was asked, least recently used first;
 * chunk k is formatted on the k-th turn of the event loop after that (1M items took about a second
 * of event loop in one go, then as long again to join and copy the 70 MB), so a large dump neither
 * stalls other clients nor is ever joined. An item replaced meanwhile is dumped as it is when its
 * chunk is formatted; one removed meanwhile is left out. Each chunk after the first waits for `pause`
 * (the connection's: until its output is within budget, so a slow reader never has the whole dump
 * in memory); once it answers false (the client is gone) the remaining chunks are left empty.
 */
export function metadumpChunks(store: ItemStore, classes?: ReadonlySet<number>, pause: () => Promise<boolean> = nextTurn): Array<Promise<Buffer>> {
  const items = store.lruSnapshot();
  const format = (start: number): Buffer => {
    let chunk = '';
    for (let k = start; k < Math.min(items.length, start + METADUMP_CHUNK_ITEMS); k++) {
      // An item replaced since the snapshot is dumped as it is now (its new version is not in the
      // snapshot, so it cannot come twice); one removed is left out.
      const found = items[k].linked ? items[k] : store.peek(items[k].key);
      if (typeof found === 'string') continue;
      const item = found;
      if (store.deadReason(item) !== undefined) continue;
      if (classes === undefined || classes.has(item.cls)) chunk += itemLine(item);
    }
    if (start + METADUMP_CHUNK_ITEMS >= items.length) chunk += 'END\r\n';
    return Buffer.from(chunk, 'latin1');
  };
  const chunks: Array<Promise<Buffer>> = [];
  let previous: Promise<unknown> = Promise.resolve();
  let going = true;
  for (let start = 0; start === 0 || start < items.length; start += METADUMP_CHUNK_ITEMS) {
    const from = start;
    const chunk = previous
      .then(async () => { if (from > 0 && going) going = await pause(); })
      .then(() => (going ? format(from) : EMPTY));
    chunks.push(chunk);
    previous = chunk;
  }
  return chunks;
}

/** The whole dump as one text (in-process use and tests). */
export async function metadumpText(store: ItemStore, classes?: ReadonlySet<number>, pause: () => Promise<boolean> = nextTurn): Promise<string> {
  const chunks = await Promise.all(metadumpChunks(store, classes, pause));
  return chunks.map((c) => c.toString('latin1')).join('');
}
