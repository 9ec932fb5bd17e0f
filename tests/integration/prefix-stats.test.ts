/**
 * memcached's per-prefix stats (`stats detail on|off|dump`, `-D`), against memcached 1.6.18: the
 * same text and binary commands go to both, and the dumps must hold the same PREFIX lines (the
 * order differs: memcached lists them in its hash table's order, mucached in first-seen order).
 */
import { arithExtras, BinRequest, Op, storeExtras, u32Extras } from '../helpers/binpkt';
import { SentinelSession } from '../helpers/sentinel-session';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';

jest.setTimeout(60_000);

const tracked = trackedServers();
const binarySessions: SentinelSession[] = [];
afterEach(() => {
  for (const s of binarySessions.splice(0)) s.close();
});

/** Both servers, each with a text session and a binary one. */
async function pair(args: string[] = []): Promise<Array<{ text: SentinelSession; binary: SentinelSession }>> {
  const out = [];
  for (const start of [startReference, startSubject]) {
    const { server, session: text } = await tracked.open(start, args);
    const binary = await SentinelSession.open(server.port);
    binarySessions.push(binary);
    out.push({ text, binary });
  }
  return out;
}

const key = (s: string) => Buffer.from(s, 'latin1');
const bin = (opcode: number, k: string, extras?: Buffer, value?: string): BinRequest => ({ opcode, key: key(k), extras, value: value === undefined ? undefined : key(value) });

/** Text commands of every kind, some counted per prefix and some (meta, incr, touch) not. */
const TEXT = [
  'set a:1 0 0 1\r\nx\r\n', 'get a:1\r\n', 'get a:2 b:1 nodelim\r\n', 'gets a:1\r\n', 'gat 0 a:1 c:9\r\n', 'gats 0 a:1\r\n',
  'delete a:1\r\n', 'delete z:1 noreply\r\n', 'incr b:1 1\r\n', 'touch a:2 0\r\n', 'mg a:3 v\r\n', 'ms m:1 1\r\nx\r\n', 'md m:1\r\n',
  'append a:9 0 0 1\r\ny\r\n', 'add e:1 0 0 1\r\nx\r\n', 'replace e:1 0 0 1\r\nx\r\n', 'prepend e:1 0 0 1\r\nx\r\n',
  'cas e:1 0 0 1 1\r\nx\r\n', 'set :empty 0 0 1\r\nx\r\n', 'set tail: 0 0 1\r\nx\r\n', 'get tail: :empty\r\n',
];

const BINARY: BinRequest[] = [
  bin(Op.set, 'bs:1', storeExtras(0, 0), 'x'), bin(Op.get, 'bg:1'), bin(Op.get, 'bs:1'), bin(Op.getk, 'bk:1'), bin(Op.getq, 'bq:1'),
  bin(Op.append, 'ba:1', undefined, 'y'), bin(Op.add, 'bd:1', storeExtras(0, 0), 'x'), bin(Op.replace, 'br:1', storeExtras(0, 0), 'x'),
  bin(Op.delete, 'bx:1'), bin(Op.incr, 'bi:1', arithExtras(1n, 0n, 0xffffffff)), bin(Op.touch, 'bt:1', u32Extras(0)),
  bin(Op.gat, 'bs:1', u32Extras(0)), bin(Op.setq, 'bsq:1', storeExtras(0, 0), 'x'),
];

function prefixLines(dump: string): string[] {
  expect(dump.endsWith('END\r\n')).toBe(true);
  return dump.split('\r\n').filter((l) => l.startsWith('PREFIX ')).sort();
}

async function dump(s: { text: SentinelSession }): Promise<string[]> {
  return prefixLines(await s.text.text('stats detail dump\r\n'));
}

it('counts the same gets, hits, stores and deletes per prefix as memcached, over text and binary', async () => {
  const both = await pair();
  const results: Array<{ lines: string[]; replies: string[]; settings: string }> = [];
  for (const s of both) {
    const replies = [await s.text.text('stats detail dump\r\n'), await s.text.text('stats detail on\r\n')];
    for (const command of TEXT) await s.text.text(command);
    await s.binary.binary(...BINARY);
    const settings = await s.text.text('stats settings\r\n');
    results.push({ lines: await dump(s), replies, settings: /STAT detail_enabled (\S+)/.exec(settings)?.[1] ?? 'missing' });
  }
  expect(results[0].lines.length).toBeGreaterThan(15);
  expect(results[0].lines).toContain('PREFIX a get 5 hit 4 set 2 del 1');
  expect(results[0].settings).toBe('yes');
  expect(results[1]).toEqual(results[0]);
});

it('off stops counting but keeps the counts; stats reset clears them; the binary dump holds the same text', async () => {
  const both = await pair();
  const out: Array<{ afterOff: string[]; binary: string[]; afterReset: string[]; usage: string }> = [];
  for (const s of both) {
    await s.text.text('stats detail on\r\nset k:1 0 0 1\r\nx\r\nget k:1\r\nstats detail off\r\nget k:1\r\ndelete k:1\r\n');
    const afterOff = await dump(s);
    const [detailed] = await s.binary.binary({ opcode: Op.stat, key: key('detail dump') });
    const binary = prefixLines(detailed.value.toString('latin1'));
    const usage = await s.text.text('stats detail\r\nstats detail foo\r\n');
    await s.text.text('stats reset\r\n');
    out.push({ afterOff, binary, afterReset: await dump(s), usage });
  }
  expect(out[0].afterOff).toEqual(['PREFIX k get 1 hit 1 set 1 del 0']);
  expect(out[1]).toEqual(out[0]);
});

it('-D turns per-prefix stats on from the start, split at its character', async () => {
  const both = await pair(['-D', '/']);
  const out: Array<{ lines: string[]; settings: string[] }> = [];
  for (const s of both) {
    await s.text.text('set user/1 0 0 1\r\nx\r\nget user/1 user:2 user/3\r\n');
    const settings = (await s.text.text('stats settings\r\n')).split('\r\n').filter((l) => /stat_key_prefix|detail_enabled/.test(l));
    out.push({ lines: await dump(s), settings });
  }
  expect(out[0]).toEqual({ lines: ['PREFIX user get 2 hit 1 set 1 del 0'], settings: ['STAT stat_key_prefix /', 'STAT detail_enabled yes'] });
  expect(out[1]).toEqual(out[0]);
});
