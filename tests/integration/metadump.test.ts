/**
 * `lru_crawler metadump`, against memcached 1.6.18 (the same items in both, the lines compared but
 * for the last-access time and the order), and through the tool that uses it: Debian's
 * `memcached-tool HOST dump` copies every item of a mucached into another server.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { exchange } from '../helpers/cluster';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';

jest.setTimeout(60_000);

const MEMCACHED_TOOL = '/usr/share/memcached/scripts/memcached-tool';

const tracked = trackedServers();
const start = (which: typeof startReference, args: string[] = []) => tracked.open(which, args);

/** Items of several classes, flags, keys that need encoding, a binary key, expired and vivified ones. */
const ITEMS = [
  'set a 0 0 1\r\nx\r\n', 'get a\r\n', 'set b%20c 5 2000000000 3\r\nabc\r\n', 'set gone 0 -1 1\r\ny\r\n',
  'set a-b_c.d~e!f*(g)+h=i/j:k 0 0 1\r\nx\r\n', 'set \u00e9z 0 0 2\r\nhi\r\n', 'ms YmluYXJ5 2 b\r\nhi\r\n',
  `set big 0 0 5000\r\n${'z'.repeat(5000)}\r\n`, `set huge 7 0 300000\r\n${'h'.repeat(300000)}\r\n`, 'mg new N2000000000\r\n',
  'set later 0 0 1\r\nx\r\ndelete later\r\n',
];

/** A metadump's whole reply: its lines and END, or the one error line. */
function dumpOnce(port: number, command: string): Promise<string> {
  return exchange(port, `${command}\r\n`, (r) => /(^|\n)(END|ERROR[^\r\n]*|BADCLASS[^\r\n]*)\r\n$/.test(r));
}

const withoutAccessTime = (dump: string) => dump.split('\n').map((l) => l.replace(/ la=\d+ /, ' ')).sort();

it('lists the same items as memcached, with the same fields, for every class selection; refuses what memcached refuses', async () => {
  const forms = ['all', 'hash', '1', '19,37', ',1,', '63', '0', '64', 'foo', 'all noreply', ''];
  const dumps: Array<Record<string, string[]>> = [];
  for (const which of [startReference, startSubject]) {
    const { server, session } = await start(which);
    const port = server.port;
    for (const command of ITEMS) await session.text(Buffer.from(command, 'latin1'));
    const out: Record<string, string[]> = {};
    // One connection per dump: memcached refuses a metadump with anything pipelined behind it.
    for (const form of forms) out[form] = withoutAccessTime(await dumpOnce(port, `lru_crawler metadump ${form}`.trim()));
    dumps.push(out);
  }
  expect(dumps[0].all).toEqual([
    '', 'END\r',
    'key=%E9z exp=-1 cas=5 fetch=no cls=1 size=63',
    'key=a exp=-1 cas=1 fetch=yes cls=1 size=61',
    'key=a-b_c.d~e%21f%2A%28g%29%2Bh%3Di%2Fj%3Ak exp=-1 cas=4 fetch=no cls=1 size=83',
    'key=b%2520c exp=2000000000 cas=2 fetch=no cls=1 size=71',
    'key=big exp=-1 cas=7 fetch=no cls=19 size=5062',
    'key=binary exp=-1 cas=6 fetch=no cls=1 size=67',
    'key=huge exp=-1 cas=8 fetch=no cls=37 size=300067',
    'key=new exp=2000000000 cas=9 fetch=yes cls=1 size=62',
  ]);
  expect(dumps[0]['0']).toEqual(['', 'BADCLASS invalid class id\r']);
  expect(dumps[0]['']).toEqual(['', 'ERROR\r']);
  expect(dumps[1]).toEqual(dumps[0]);
});

it('-X refuses metadump as memcached does', async () => {
  const replies: string[] = [];
  for (const which of [startReference, startSubject]) {
    const { session } = await start(which, ['-X']);
    replies.push(await session.text('lru_crawler metadump all\r\n'));
  }
  expect(replies).toEqual(['ERROR metadump not allowed\r\n', 'ERROR metadump not allowed\r\n']);
});

it('memcached-tool dump copies every live item of a mucached into another mucached', async () => {
  if (!fs.existsSync(MEMCACHED_TOOL)) throw new Error(`${MEMCACHED_TOOL} missing: apt-get install -y memcached`);
  const source = await start(startSubject);
  for (const command of ITEMS) await source.session.text(Buffer.from(command, 'latin1'));
  const dumped = spawnSync('perl', [MEMCACHED_TOOL, `127.0.0.1:${source.server.port}`, 'dump'], { encoding: 'latin1', timeout: 30_000, maxBuffer: 16 * 1024 * 1024 });
  expect(dumped.status).toBe(0);
  expect(dumped.stdout).toContain('add big 0 0 5000\r\n');
  const target = await start(startSubject);
  // The dump is a stream of add commands: a client loads it as it is.
  const loaded = await target.session.text(Buffer.from(dumped.stdout, 'latin1'));
  expect(loaded).toBe('STORED\r\n'.repeat(8));
  const keys = ['a', 'b%20c', 'a-b_c.d~e!f*(g)+h=i/j:k', '\u00e9z', 'binary', 'big', 'huge', 'new'];
  for (const key of keys) {
    const request = Buffer.from(`gets ${key}\r\n`, 'latin1');
    const copy = await target.session.text(request);
    const original = await source.session.text(request);
    // Values, flags and (absolute) expiry carry over; CAS uniques are the new server's own.
    expect(copy.replace(/ \d+\r\n/, ' CAS\r\n')).toBe(original.replace(/ \d+\r\n/, ' CAS\r\n'));
    expect(copy).not.toBe('END\r\n');
  }
  expect(await target.session.text('get gone later\r\n')).toBe('END\r\n');
});
