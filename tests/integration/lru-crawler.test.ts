/**
 * The LRU crawler's commands and options against memcached 1.6.18 (the same lines to both, replies
 * compared byte for byte), and what the crawler does on a real daemon: expired items are taken out
 * and their memory freed without any client reading them.
 */
import { spawnSync } from 'child_process';
import { daemonCli, freePort } from '../helpers/procs';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';
import type { SentinelSession } from '../helpers/sentinel-session';

jest.setTimeout(60_000);

const tracked = trackedServers();

/** One line, its reply (a crawl is given time to end first, so none answers BUSY by chance). */
async function ask(session: SentinelSession, command: string): Promise<string> {
  const reply = await session.text(`${command}\r\n`);
  if (command.startsWith('lru_crawler crawl')) await running(session, false);
  // memcached's crawler thread is still winding down for a moment after `disable` answered OK: a
  // crawl asked for meanwhile got OK or "ERROR an unknown error happened" instead of "lru crawler
  // disabled" (seen in 2 of about 15 runs).
  if (command.startsWith('lru_crawler disable')) await new Promise((r) => setTimeout(r, 300));
  return reply;
}

function statOf(stats: string, name: string): string | undefined {
  return new RegExp(`STAT ${name} (\\S+)\r\n`).exec(stats)?.[1];
}

/** Waits (bounded) until `lru_crawler_running` is as asked. */
async function running(session: SentinelSession, want: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((statOf(await session.text('stats\r\n'), 'lru_crawler_running') === '1') === want) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`lru_crawler_running did not become ${want ? 1 : 0} within 2 s`);
}

const LINES = [
  'lru_crawler crawl all', 'lru_crawler crawl 1', 'lru_crawler crawl 5,1', 'lru_crawler crawl ,', 'lru_crawler crawl 0',
  'lru_crawler crawl 64', 'lru_crawler crawl 1,x', 'lru_crawler crawl hash', 'lru_crawler crawl', 'lru_crawler crawl all extra',
  'lru_crawler', 'lru_crawler foo', 'lru_crawler sleep', 'lru_crawler sleep -1', 'lru_crawler sleep abc', 'lru_crawler sleep 1000001',
  'lru_crawler sleep 250', 'lru_crawler tocrawl', 'lru_crawler tocrawl -1', 'lru_crawler tocrawl abc', 'lru_crawler tocrawl 00012',
  'lru_crawler sleep 100 noreply', 'lru_crawler enable noreply', 'lru_crawler enable', 'lru_crawler disable', 'lru_crawler disable',
  'lru_crawler crawl all', 'lru_crawler enable x', 'lru_crawler enable', 'lru_crawler crawl 1',
];

it('answers every lru_crawler subcommand as memcached does, and reports the same settings', async () => {
  const transcripts: string[][] = [];
  for (const which of [startReference, startSubject]) {
    const { session } = await tracked.open(which);
    await session.text('set a 0 0 1\r\nx\r\n');
    const replies: string[] = [];
    for (const command of LINES) replies.push(`${command} -> ${await ask(session, command)}`);
    const settings = await session.text('stats settings\r\n');
    for (const name of ['lru_crawler', 'lru_crawler_sleep', 'lru_crawler_tocrawl']) replies.push(`${name} = ${statOf(settings, name)}`);
    transcripts.push(replies);
  }
  expect(transcripts[0]).toContain('lru_crawler crawl , -> NOTSTARTED no items to crawl\r\n');
  expect(transcripts[0]).toContain('lru_crawler crawl all -> CLIENT_ERROR lru crawler disabled\r\n');
  expect(transcripts[0]).toContain('lru_crawler_sleep = 250');
  expect(transcripts[1]).toEqual(transcripts[0]);
});

it('-o no_lru_crawler, lru_crawler_sleep and lru_crawler_tocrawl are taken as memcached takes them', async () => {
  const seen: string[][] = [];
  for (const which of [startReference, startSubject]) {
    const off = await tracked.open(which, ['-o', 'no_lru_crawler']);
    const tuned = await tracked.open(which, ['-o', 'lru_crawler_sleep=5000,lru_crawler_tocrawl=7']);
    const offSettings = await off.session.text('stats settings\r\n');
    const tunedSettings = await tuned.session.text('stats settings\r\n');
    seen.push([
      statOf(offSettings, 'lru_crawler')!, await ask(off.session, 'lru_crawler crawl all'), await ask(off.session, 'lru_crawler enable'),
      statOf(tunedSettings, 'lru_crawler_sleep')!, statOf(tunedSettings, 'lru_crawler_tocrawl')!,
    ]);
  }
  expect(seen[0]).toEqual(['no', 'CLIENT_ERROR lru crawler disabled\r\n', 'OK\r\n', '5000', '7']);
  expect(seen[1]).toEqual(seen[0]);
  const port = await freePort();
  const refused = spawnSync(process.execPath, [daemonCli, '-p', String(port), '-o', 'lru_crawler_sleep=2000000'], { encoding: 'utf8', timeout: 20_000 });
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toContain('LRU crawler sleep must be between 0 and 1 second');
});

it('takes expired items out without any client reading them, frees their memory and counts them in stats', async () => {
  const { session } = await tracked.open(startSubject);
  const value = 'v'.repeat(1000);
  let sets = '';
  for (let i = 0; i < 50; i++) sets += `set short${i} 0 1 ${value.length}\r\n${value}\r\n`;
  sets += `set kept 0 0 ${value.length}\r\n${value}\r\n`;
  await session.text(sets);
  const before = await session.text('stats\r\n');
  expect(statOf(before, 'curr_items')).toBe('51');
  // Expiry has one-second granularity: two seconds make every TTL of 1 pass.
  await new Promise((r) => setTimeout(r, 2100));
  expect(await ask(session, 'lru_crawler crawl all')).toBe('OK\r\n');
  const after = await session.text('stats\r\n');
  expect(statOf(after, 'curr_items')).toBe('1');
  expect(statOf(after, 'crawler_reclaimed')).toBe('50');
  expect(statOf(after, 'crawler_items_checked')).toBe('51');
  expect(statOf(after, 'expired_unfetched')).toBe('50');
  expect(statOf(after, 'reclaimed')).toBe('0');
  expect(Number(statOf(after, 'bytes'))).toBeLessThan(Number(statOf(before, 'bytes')) / 40);
  expect(Number(statOf(after, 'lru_crawler_starts'))).toBeGreaterThanOrEqual(1);
  expect(await session.text('get kept\r\n')).toBe(`VALUE kept 0 ${value.length}\r\n${value}\r\nEND\r\n`);
});
