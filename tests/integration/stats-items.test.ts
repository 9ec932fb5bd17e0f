/**
 * `stats items` and `stats slabs` on a real daemon: per-class evictions and -M refusals are counted
 * (they read 0 whatever happened), the per-class numbers add up to the general ones, memcached-tool's
 * display shows them, and a class of hundreds of thousands of items is reported (it used to drop the
 * connection: the oldest access was taken with a spread of every item's time). Expired items taken
 * out by lookups and by the crawler are counted in their class too, under memcached's field names
 * and in its order.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';

jest.setTimeout(60_000);

const MEMCACHED_TOOL = '/usr/share/memcached/scripts/memcached-tool';
const tracked = trackedServers();

/** `STAT name value` lines as a map. */
function stats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^STAT (\S+) (\d+)\r$/gm)) out.set(m[1], Number(m[2]));
  return out;
}

/** Sum of items:<class>:<field> over the classes. */
function sumOver(items: Map<string, number>, field: string): number {
  let n = 0;
  for (const [name, v] of items) if (name.endsWith(`:${field}`) && name.startsWith('items:')) n += v;
  return n;
}

it('counts evictions per class: how many, with an expiry, unfetched; memcached-tool display shows them', async () => {
  const { server, session } = await tracked.open(startSubject, ['-m', '8']);
  const value = 'v'.repeat(100_000);
  await session.text('set small 0 0 1\r\nx\r\nget small\r\n');
  for (let i = 0; i < 120; i++) await session.text(`set big${i} 0 ${i % 2 === 0 ? 0 : 3600} ${value.length}\r\n${value}\r\n`);
  const general = stats(await session.text('stats\r\n'));
  const items = stats(await session.text('stats items\r\n'));
  const evictions = general.get('evictions')!;
  expect(evictions).toBeGreaterThan(0);
  // 'small' (fetched, no expiry) went first; its class is empty now, and like memcached the report
  // lists only classes that hold items. Of the big ones, every other had an expiry.
  expect(items.has('items:1:number')).toBe(false);
  expect(sumOver(items, 'evicted')).toBe(evictions - 1);
  expect(sumOver(items, 'evicted_unfetched')).toBe(general.get('evicted_unfetched'));
  const bigClass = [...items.keys()].find((k) => /^items:\d+:number$/.test(k))!.split(':')[1];
  const evictedBig = items.get(`items:${bigClass}:evicted`)!;
  expect(evictedBig).toBe(evictions - 1);
  expect(items.get(`items:${bigClass}:evicted_nonzero`)).toBe(Math.floor(evictedBig / 2));
  expect(items.get(`items:${bigClass}:evicted_unfetched`)).toBe(evictedBig);
  // Every item left is in that class: its bytes are all the bytes stored.
  expect(items.get(`items:${bigClass}:mem_requested`)).toBe(general.get('bytes'));
  if (!fs.existsSync(MEMCACHED_TOOL)) throw new Error(`${MEMCACHED_TOOL} missing: apt-get install -y memcached`);
  const display = spawnSync('perl', [MEMCACHED_TOOL, `127.0.0.1:${server.port}`, 'display'], { encoding: 'utf8', timeout: 30_000 });
  expect(display.status).toBe(0);
  const row = display.stdout.split('\n').find((l) => l.trim().startsWith(`${bigClass} `))!;
  // Columns: # Item_Size Max_age Pages Count Full? Evicted Evict_Time OOM
  expect(row.trim().split(/\s+/)[6]).toBe(String(evictedBig));
});

it('-M: stores refused for memory count as outofmemory in the class of the item that did not fit', async () => {
  const { session } = await tracked.open(startSubject, ['-m', '8', '-M']);
  const value = 'v'.repeat(100_000);
  let refused = 0;
  for (let i = 0; i < 120; i++) {
    const r = await session.text(`set big${i} 0 0 ${value.length}\r\n${value}\r\n`);
    if (r === 'SERVER_ERROR out of memory storing object\r\n') refused++;
    else expect(r).toBe('STORED\r\n');
  }
  expect(refused).toBeGreaterThan(0);
  const items = stats(await session.text('stats items\r\n'));
  expect(sumOver(items, 'outofmemory')).toBe(refused);
  expect(sumOver(items, 'evicted')).toBe(0);
  expect(stats(await session.text('stats\r\n')).get('store_no_memory')).toBe(refused);
});

it('reports a class of 300,000 items in stats items and stats slabs', async () => {
  const { session } = await tracked.open(startSubject, ['-m', '256']);
  const n = 300_000;
  for (let start = 0; start < n; start += 10_000) {
    let sets = '';
    for (let i = start; i < start + 10_000; i++) sets += `set k${i} 0 0 1 noreply\r\nx\r\n`;
    await session.text(sets);
  }
  const items = stats(await session.text('stats items\r\n'));
  expect(items.get('items:1:number')).toBe(n);
  const slabs = stats(await session.text('stats slabs\r\n'));
  expect(slabs.get('1:used_chunks')).toBe(n);
});

it('counts reclaimed, expired_unfetched and the crawler per class, with memcached\'s fields in its order', async () => {
  const { session } = await tracked.open(startSubject);
  const big = 'b'.repeat(5000);
  // Short-lived items in two classes; some are read before they expire.
  for (let i = 0; i < 6; i++) await session.text(`set s${i} 0 1 1\r\nx\r\nset b${i} 0 1 ${big.length}\r\n${big}\r\n`);
  await session.text('get s0 s1 b0\r\n');
  await new Promise((r) => setTimeout(r, 2200));
  // Lookups meet s0..s2 and b0 expired (s2 never read); the crawler takes the rest.
  await session.text('get s0 s1 s2 b0\r\n');
  expect(await session.text('lru_crawler crawl all\r\n')).toBe('OK\r\n');
  for (let i = 0; i < 100 && stats(await session.text('stats\r\n')).get('lru_crawler_running') !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  const general = stats(await session.text('stats\r\n'));
  // The classes are emptied by it all, and memcached lists only classes that hold items: keep one in each.
  await session.text(`set keep-s 0 0 1\r\nx\r\nset keep-b 0 0 ${big.length}\r\n${big}\r\n`);
  const items = stats(await session.text('stats items\r\n'));
  const [small, large] = [...items.keys()].filter((k) => /^items:\d+:number$/.test(k)).map((k) => k.split(':')[1]);
  expect(items.get(`items:${small}:reclaimed`)).toBe(3);
  expect(items.get(`items:${large}:reclaimed`)).toBe(1);
  expect(items.get(`items:${small}:expired_unfetched`)).toBe(1 + 3); // s2 by the lookup, s3..s5 by the crawler
  expect(items.get(`items:${large}:expired_unfetched`)).toBe(5); // b1..b5 (b0 was read)
  expect(items.get(`items:${small}:crawler_reclaimed`)).toBe(3);
  expect(items.get(`items:${large}:crawler_reclaimed`)).toBe(5);
  for (const field of ['reclaimed', 'expired_unfetched', 'crawler_reclaimed', 'crawler_items_checked']) {
    expect([field, sumOver(items, field)]).toEqual([field, general.get(field)]);
  }
  // memcached 1.6.18's fields, in its order, less those of its segmented LRU and of per-class allocation.
  const reference = (await tracked.open(startReference)).session;
  await reference.text('set a 0 0 1\r\nx\r\n');
  const fieldsOf = (text: string, cls: string): string[] => [...text.matchAll(new RegExp(`^STAT items:${cls}:(\\S+) `, 'gm'))].map((m) => m[1]);
  const segmentedOnly = /^(number_(hot|warm|cold)|age_(hot|warm)|hits_to_\w+|direct_reclaims)$/;
  expect(fieldsOf(await session.text('stats items\r\n'), small))
    .toEqual(fieldsOf(await reference.text('stats items\r\n'), '1').filter((f) => !segmentedOnly.test(f)));
});
