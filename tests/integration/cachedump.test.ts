/**
 * `stats cachedump <class> <limit>`: libmemcached's `memcdump` (Debian's libmemcached-tools) lists a
 * mucached's keys through it, and its refusals are memcached 1.6.18's, byte for byte. (memcached's
 * own listings are left out of the comparison: it dumps only items still in its HOT LRU, which
 * depends on its maintainer thread's timing.)
 */
import { spawnSync } from 'child_process';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';

jest.setTimeout(60_000);

const tracked = trackedServers();

const EDGE_FORMS = [
  'stats cachedump', 'stats cachedump 1', 'stats cachedump x 1', 'stats cachedump 1 x', 'stats cachedump -1 1', 'stats cachedump 1 -1',
  'stats cachedump 64 0', 'stats cachedump 99 1', 'stats cachedump 0 1', 'stats cachedump 63 0',
];

it('refuses what memcached refuses, with its words, and -X refuses every form', async () => {
  const transcripts: string[][] = [];
  for (const which of [startReference, startSubject]) {
    const plain = await tracked.open(which);
    const noDump = await tracked.open(which, ['-X']);
    const replies: string[] = [];
    for (const form of EDGE_FORMS) replies.push(`${form} -> ${await plain.session.text(`${form}\r\n`)}`);
    for (const form of ['stats cachedump 1 0', 'stats cachedump', 'stats cachedump 99 1']) replies.push(`-X ${form} -> ${await noDump.session.text(`${form}\r\n`)}`);
    transcripts.push(replies);
  }
  expect(transcripts[0]).toContain('stats cachedump 99 1 -> CLIENT_ERROR Illegal slab id\r\n');
  expect(transcripts[0]).toContain('-X stats cachedump -> CLIENT_ERROR stats cachedump not allowed\r\n');
  expect(transcripts[1]).toEqual(transcripts[0]);
});

it('lists the live items of a class, most recently used first, with value size and absolute expiry; limit counts', async () => {
  const { session } = await tracked.open(startSubject);
  await session.text('set old 0 0 1\r\nx\r\nset ttl 0 2000000000 3\r\nabc\r\nset gone 0 -1 1\r\nx\r\nms YmluYXJ5 2 b\r\nhi\r\n');
  await session.text(`set big 0 0 5000\r\n${'z'.repeat(5000)}\r\nset new 0 0 2\r\nhi\r\n`);
  expect(await session.text('stats cachedump 1 0\r\n')).toBe('ITEM new [2 b; 0 s]\r\nITEM ttl [3 b; 2000000000 s]\r\nITEM old [1 b; 0 s]\r\nEND\r\n');
  expect(await session.text('stats cachedump 1 2\r\n')).toBe('ITEM new [2 b; 0 s]\r\nITEM ttl [3 b; 2000000000 s]\r\nEND\r\n');
  // A read makes an item the most recently used.
  await session.text('get old\r\n');
  expect(await session.text('stats cachedump 1 1\r\n')).toBe('ITEM old [1 b; 0 s]\r\nEND\r\n');
  expect(await session.text('stats cachedump 19 0\r\n')).toBe('ITEM big [5000 b; 0 s]\r\nEND\r\n');
  expect(await session.text('stats cachedump 2 0\r\n')).toBe('END\r\n');
});

it("libmemcached's memcdump lists every live text key of a mucached", async () => {
  const { server, session } = await tracked.open(startSubject);
  const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
  let sets = '';
  for (const [i, key] of keys.entries()) {
    const value = 'v'.repeat(1 + i * 997); // many classes
    sets += `set ${key} 0 0 ${value.length}\r\n${value}\r\n`;
  }
  sets += 'set expired 0 -1 1\r\nx\r\n';
  await session.text(sets);
  const dumped = spawnSync('memcdump', [`--servers=127.0.0.1:${server.port}`], { encoding: 'latin1', timeout: 30_000 });
  expect(dumped.error).toBeUndefined();
  expect(dumped.status).toBe(0);
  expect(dumped.stdout.trim().split('\n').sort()).toEqual([...keys].sort());
});
