/**
 * `stats sizes` and its switches against memcached 1.6.18, byte for byte: off by default; once on,
 * it counts the items stored from then on in 32-byte buckets (not those stored before, even when
 * they are deleted later); off again, it is forgotten; without CAS (-C) it refuses; -o track_sizes
 * turns it on from the start. The binary protocol's stat answers with the same lines.
 */
import { Op } from '../helpers/binpkt';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';
import type { RunningServer } from '../helpers/procs';
import type { SentinelSession } from '../helpers/sentinel-session';

jest.setTimeout(60_000);

const tracked = trackedServers();

const SCRIPT = [
  'stats sizes\r\n',
  'set before 0 0 1\r\nx\r\n',
  'stats sizes_enable\r\n',
  'stats sizes\r\n',
  `set forty 0 0 40\r\n${'4'.repeat(40)}\r\n`,
  `set hundred 0 0 100\r\n${'h'.repeat(100)}\r\n`,
  `set other 5 0 100\r\n${'o'.repeat(100)}\r\n`,
  'delete before\r\n',
  'stats sizes\r\n',
  'set before 0 0 1\r\ny\r\n',
  'delete forty\r\n',
  'append hundred 0 0 3\r\nabc\r\n',
  'stats sizes\r\n',
  'stats sizes_enable\r\n',
  'stats sizes_disable\r\n',
  'stats sizes\r\n',
  'stats sizes_enable\r\n',
  'stats sizes\r\n',
];

async function replies(start: (args: string[]) => Promise<RunningServer>, script: string[], args: string[] = []): Promise<string[]> {
  const { session } = await tracked.open(start, args);
  const out: string[] = [];
  for (const command of script) out.push(await session.text(command));
  return out;
}

it('counts the items stored once it is on, in memcached\'s buckets, as memcached does', async () => {
  const expected = await replies(startReference, SCRIPT);
  // The script means something: buckets were listed, and what was stored before was left out.
  expect(expected[8]).toBe('STAT 128 1\r\nSTAT 192 2\r\nEND\r\n');
  expect(await replies(startSubject, SCRIPT)).toEqual(expected);
});

it('refuses without CAS, and -o track_sizes turns it on from the start, as memcached does', async () => {
  const noCas = ['stats sizes_enable\r\n', 'set a 0 0 1\r\nx\r\n', 'stats sizes\r\n'];
  expect(await replies(startSubject, noCas, ['-C'])).toEqual(await replies(startReference, noCas, ['-C']));
  const tracking = ['set a 0 0 1\r\nx\r\n', 'stats sizes\r\n'];
  const got = await replies(startSubject, tracking, ['-o', 'track_sizes']);
  expect(got).toEqual(await replies(startReference, tracking, ['-o', 'track_sizes']));
  expect(got[1]).toBe('STAT 64 1\r\nEND\r\n');
});

it('binary stat sizes_enable and stat sizes give the same lines, each answer ended', async () => {
  const { session } = await tracked.open(startSubject);
  const stat = async (s: SentinelSession, key: string): Promise<string[]> => (await s.binary({ opcode: Op.stat, key: Buffer.from(key) }))
    .map((p) => `${p.key.toString('latin1')}=${p.value.toString('latin1')}`);
  expect(await stat(session, 'sizes_enable')).toEqual(['sizes_status=enabled', '=']);
  await session.binary({ opcode: Op.set, key: Buffer.from('a'), extras: Buffer.alloc(8), value: Buffer.from('x') });
  // The same item as text's set a 0 0 1 (61 bytes, CAS included).
  expect(await stat(session, 'sizes')).toEqual(['64=1', '=']);
  expect(await stat(session, 'sizes_disable')).toEqual(['sizes_status=disabled', '=']);
  expect(await stat(session, 'sizes')).toEqual(['sizes_status=disabled', '=']);
});
