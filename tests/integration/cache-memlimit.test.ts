/**
 * `cache_memlimit <megabytes>`: the item memory limit changed at run time. Its replies, byte for
 * byte against memcached 1.6.18; and what the limit does: lowered, the items over it are evicted at
 * once (memcached keeps its allocated slab pages instead, so stats differ there) and `stats` reports
 * the new limit; under -M nothing is evicted and stores fail until deletes make room.
 */
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';
import { SentinelSession } from '../helpers/sentinel-session';
import { trackedServers } from '../helpers/tracked-servers';

jest.setTimeout(60_000);

const tracked = trackedServers();

async function open(start: (args: string[]) => Promise<RunningServer>, args: string[] = []): Promise<SentinelSession> {
  return (await tracked.open(start, args)).session;
}

function stat(text: string, name: string): number {
  const m = new RegExp(`^STAT ${name} (\\d+)\\r$`, 'm').exec(text);
  if (m === null) throw new Error(`no STAT ${name} in ${text.slice(0, 400)}`);
  return Number(m[1]);
}

/** `count` sets of `valueBytes` each, quietly; the session's sentinel waits for all of them. */
async function fill(session: SentinelSession, count: number, valueBytes: number): Promise<void> {
  const value = 'v'.repeat(valueBytes);
  let request = '';
  for (let i = 0; i < count; i++) request += `set fill${i} 0 0 ${valueBytes} noreply\r\n${value}\r\n`;
  expect(await session.text(request)).toBe('');
}

it('answers every form of cache_memlimit as memcached does', async () => {
  const forms = [
    'cache_memlimit 4', 'cache_memlimit 0', 'cache_memlimit 8', 'cache_memlimit abc', 'cache_memlimit',
    'cache_memlimit 100 200', 'cache_memlimit -5', 'cache_memlimit abc noreply', 'cache_memlimit 4 noreply',
    'cache_memlimit 4096 noreply', 'cache_memlimit 99999999999', 'cache_memlimit 1000000001', 'cache_memlimit 1 2 3',
    'cache_memlimit 64',
  ].map((f) => `${f}\r\n`).join('');
  const reference = await open(startMemcached);
  const ours = await open(startMucached);
  const expected = await reference.text(forms);
  expect(expected).toContain('MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n');
  expect(expected).toContain('MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n');
  expect(await ours.text(forms)).toBe(expected);
});

it('lowered, the limit holds at once: least recently used items are evicted, the newest kept, stats report it', async () => {
  const session = await open(startMucached, ['-m', '64']);
  await fill(session, 3000, 10_000); // about 30 MB
  expect(stat(await session.text('stats\r\n'), 'curr_items')).toBe(3000);
  expect(await session.text('cache_memlimit 8\r\n')).toBe('OK\r\n');
  const stats = await session.text('stats\r\n');
  expect(stat(stats, 'limit_maxbytes')).toBe(8 * 1024 * 1024);
  expect(stat(stats, 'bytes')).toBeLessThanOrEqual(8 * 1024 * 1024);
  expect(stat(stats, 'evictions')).toBeGreaterThan(2000);
  expect(stat(await session.text('stats settings\r\n'), 'maxbytes')).toBe(8 * 1024 * 1024);
  expect(await session.text('get fill0\r\n')).toBe('END\r\n');
  expect(await session.text('get fill2999\r\n')).toMatch(/^VALUE fill2999 0 10000\r\n/);
  // Raised again, it takes as much as before without evicting.
  expect(await session.text('cache_memlimit 64\r\n')).toBe('OK\r\n');
  const before = stat(await session.text('stats\r\n'), 'evictions');
  await fill(session, 3000, 10_000);
  expect(stat(await session.text('stats\r\n'), 'evictions')).toBe(before);
});

it('under -M, lowering evicts nothing; stores fail until deletes bring the items under the limit', async () => {
  const session = await open(startMucached, ['-m', '64', '-M']);
  await fill(session, 1500, 10_000); // about 15 MB
  expect(await session.text('cache_memlimit 8\r\n')).toBe('OK\r\n');
  expect(stat(await session.text('stats\r\n'), 'curr_items')).toBe(1500);
  expect(await session.text('set more 0 0 1\r\nx\r\n')).toBe('SERVER_ERROR out of memory storing object\r\n');
  expect(await session.text('get fill0\r\n')).toMatch(/^VALUE fill0 0 10000\r\n/);
  let deletes = '';
  for (let i = 0; i < 1000; i++) deletes += `delete fill${i} noreply\r\n`;
  expect(await session.text(deletes)).toBe('');
  expect(await session.text('set more 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
  const stats = await session.text('stats\r\n');
  expect(stat(stats, 'evictions')).toBe(0);
  expect(stat(stats, 'bytes')).toBeLessThanOrEqual(8 * 1024 * 1024);
});
