/**
 * memcached's -C (no CAS) and -M (no evictions) on real processes. Where the behaviour is
 * memcached's, the same bytes go to memcached 1.6.18 and to mucached and the replies must agree
 * (the expected replies written here are what memcached 1.6.18 answered when this was written).
 * Memory accounting differs (memcached has slab classes, mucached counts bytes), so the -M tests
 * fill each server until it is full by its own measure, then compare what a client sees.
 */
import { arithExtras, BinRequest, BinResponse, Op, storeExtras } from '../helpers/binpkt';
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';
import type { RunningServer } from '../helpers/procs';
import { SentinelSession } from '../helpers/sentinel-session';
import { startReference, startSubject } from '../helpers/target';

jest.setTimeout(120_000);

const OUT_OF_MEMORY = 'SERVER_ERROR out of memory storing object\r\n';
const ENOMEM = 0x82;
const SMALL_MEMORY_ARGS = ['-m', '2', '-I', '512k'];

type Transcript = Array<[request: string, reply: string]>;

/** Sends each request on one connection and records its replies. */
async function transcript(port: number, requests: string[]): Promise<Transcript> {
  const session = await SentinelSession.open(port);
  try {
    const out: Transcript = [];
    for (const request of requests) out.push([request, await session.text(request)]);
    return out;
  } finally {
    session.close();
  }
}

const replies = (t: Transcript) => t.map(([, reply]) => reply);

async function binaryReplies(port: number, requests: BinRequest[]): Promise<BinResponse[]> {
  const session = await SentinelSession.open(port);
  try {
    const out: BinResponse[] = [];
    for (const request of requests) out.push(...(await session.binary(request)));
    return out;
  } finally {
    session.close();
  }
}

async function stats(port: number): Promise<Record<string, string>> {
  const text = await exchange(port, 'stats\r\n', (r) => r.endsWith('END\r\n'));
  return Object.fromEntries([...text.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1], m[2]]));
}

const key = (s: string) => Buffer.from(s, 'latin1');
const binSet = (k: string, value: string, cas = 0n, opcode: number = Op.set): BinRequest => ({ opcode, key: key(k), extras: storeExtras(0, 0), value: key(value), cas });
/** What a client sees of a binary response besides the CAS (uniques are numbered differently). */
const visible = (r: BinResponse) => ({ opcode: r.opcode, status: r.status, extras: r.extras.toString('hex'), key: r.key.toString('latin1'), value: r.value.toString('latin1') });

async function startPair(args: string[]): Promise<{ memcached: RunningServer; mucached: RunningServer }> {
  return { memcached: await startReference(args), mucached: await startSubject(args) };
}

describe('-C: no CAS uniques, byte for byte as memcached -C', () => {
  let servers: { memcached: RunningServer; mucached: RunningServer };
  beforeAll(async () => { servers = await startPair(['-C', '-I', '512k']); });
  afterAll(async () => { await servers?.memcached.stop(); await servers?.mucached.stop(); });

  test('text and meta: CAS reads 0, a cas store never matches, an append ignores its CAS', async () => {
    const expected: Transcript = [
      ['set a 0 0 1\r\nx\r\n', 'STORED\r\n'],
      ['gets a\r\n', 'VALUE a 0 1 0\r\nx\r\nEND\r\n'],
      ['cas a 0 0 1 0\r\ny\r\n', 'EXISTS\r\n'],
      ['cas a 0 0 1 5\r\ny\r\n', 'EXISTS\r\n'],
      ['cas nokey 0 0 1 0\r\ny\r\n', 'NOT_FOUND\r\n'],
      ['mg a c v\r\n', 'VA 1 c0\r\nx\r\n'],
      ['ms a 1 c\r\nz\r\n', 'HD c0\r\n'],
      ['ms a 1 C0 c\r\nz\r\n', 'EX c0\r\n'],
      ['ms a 1 C5 c\r\nz\r\n', 'EX c0\r\n'],
      ['ms nokey 1 C5\r\nz\r\n', 'NF\r\n'],
      ['ms a 1 MA C3\r\nq\r\n', 'HD\r\n'],
      ['gets a\r\n', 'VALUE a 0 2 0\r\nzq\r\nEND\r\n'],
      ['gats 100 a\r\n', 'VALUE a 0 2 0\r\nzq\r\nEND\r\n'],
      ['set n 0 0 1\r\n5\r\n', 'STORED\r\n'],
      ['incr n 1\r\n', '6\r\n'],
      ['ma n C0 c v\r\n', 'VA 1 c0\r\n7\r\n'],
      ['ma n C6 v\r\n', 'EX\r\n'],
      ['ma nn N0 J7 c v\r\n', 'VA 1 c0\r\n7\r\n'],
      ['md n C5\r\n', 'EX\r\n'],
      ['md n C0\r\n', 'HD\r\n'],
      ['set d 0 0 1\r\n1\r\n', 'STORED\r\n'],
      ['md d I T30\r\n', 'HD\r\n'],
      ['mg d c v\r\n', 'VA 1 c0 X W\r\n1\r\n'],
      ['ms d 1 I C5 c\r\nz\r\n', 'EX c0\r\n'],
      ['mg viv N30 c v\r\n', 'VA 0 c0 W\r\n\r\n'],
    ];
    const requests = expected.map(([request]) => request);
    const reference = await transcript(servers.memcached.port, requests);
    expect(reference).toEqual(expected);
    expect(await transcript(servers.mucached.port, requests)).toEqual(reference);
    const counted = ['cas_hits', 'cas_badval', 'cas_misses', 'cmd_set', 'curr_items', 'bytes'];
    const pick = (s: Record<string, string>) => Object.fromEntries(counted.map((name) => [name, s[name]]));
    expect(pick(await stats(servers.mucached.port))).toEqual(pick(await stats(servers.memcached.port)));
  });

  test('binary: every response carries CAS 0, and a store ignores the CAS it is sent', async () => {
    const requests: BinRequest[] = [
      binSet('ba', 'x'),
      { opcode: Op.get, key: key('ba') },
      binSet('ba', 'y', 5n), // stored: no compare-and-swap without CAS
      binSet('nokeyb', 'y', 5n),
      binSet('ba', 'y', 5n, Op.add),
      binSet('ba', 'w', 5n, Op.replace),
      { opcode: Op.append, key: key('ba'), value: key('z'), cas: 5n },
      { opcode: Op.getk, key: key('ba') },
      binSet('bn', '5'),
      { opcode: Op.incr, key: key('bn'), extras: arithExtras(1n, 0n, 0) },
      { opcode: Op.incr, key: key('bn'), extras: arithExtras(1n, 0n, 0), cas: 3n }, // compared with 0: exists
      { opcode: Op.incr, key: key('bnew'), extras: arithExtras(1n, 10n, 0) },
      { opcode: Op.delete, key: key('bn'), cas: 3n },
      { opcode: Op.delete, key: key('bn') },
    ];
    const reference = await binaryReplies(servers.memcached.port, requests);
    expect(reference.map((r) => r.cas)).toEqual(requests.map(() => 0n));
    expect(reference.map((r) => r.status)).toEqual([0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0x02, 0, 0x02, 0]);
    const subject = await binaryReplies(servers.mucached.port, requests);
    expect(subject.map((r) => r.raw.toString('hex'))).toEqual(reference.map((r) => r.raw.toString('hex')));
  });

  test('items have no 8-byte CAS: the largest value stored and the size `me` shows agree', async () => {
    // -I 512k: the largest item is 524288 bytes: 48 of header, the 3-byte key and its NUL, the
    // value and its CRLF (with CAS, 8 bytes more of header and 8 fewer of value).
    const itemSizeMaxBytes = 512 * 1024;
    const largest = itemSizeMaxBytes - 48 - (3 + 1) - 2;
    const value = (n: number) => 'v'.repeat(n);
    const requests = [
      `set big 0 0 ${largest}\r\n${value(largest)}\r\n`,
      `set bog 0 0 ${largest + 1}\r\n${value(largest + 1)}\r\n`,
      `set e 0 0 3\r\nabc\r\n`,
    ];
    const reference = await transcript(servers.memcached.port, requests);
    expect(replies(reference)).toEqual(['STORED\r\n', 'SERVER_ERROR object too large for cache\r\n', 'STORED\r\n']);
    expect(replies(await transcript(servers.mucached.port, requests))).toEqual(replies(reference));
    // `me` also reports seconds since the last access, which may tick differently: compare sizes.
    const sizes = async (port: number) => (await transcript(port, ['me big\r\n', 'me e\r\n'])).map(([, reply]) => /size=(\d+)/.exec(reply)?.[1]);
    expect(await sizes(servers.memcached.port)).toEqual([String(itemSizeMaxBytes), String(48 + 2 + 3 + 2)]);
    expect(await sizes(servers.mucached.port)).toEqual(await sizes(servers.memcached.port));
  });
});

/** Keys of 8 bytes and 1-byte values: the fill and the commands after it need the same room. */
const PRESET: Array<[string, string]> = [
  ['keynum01', '9'], ['keysm001', 'x'], ['keysm002', 'x'], ['keysm003', 'x'], ['keysm004', 'x'], ['keysm005', 'x'], ['keysm007', '99'],
];
/** More one-byte items than -m 2 holds, by memcached's measure and by ours. */
const FILL_ITEMS = 40_000;

async function fillUp(port: number): Promise<void> {
  const preset = PRESET.map(([k, v]) => `set ${k} 0 0 ${v.length}\r\n${v}\r\n`).join('');
  expect(await transcript(port, [preset])).toEqual([[preset, 'STORED\r\n'.repeat(PRESET.length)]]);
  let fill = '';
  for (let i = 0; i < FILL_ITEMS; i++) fill += `set f${String(i).padStart(7, '0')} 0 0 1 noreply\r\nx\r\n`;
  // noreply: the sets that do not fit answer nothing either (memcached drops noreply errors).
  expect(replies(await transcript(port, [fill]))).toEqual(['']);
}

/** After the fill, one item's room at most is free: what memcached answers, step by step. */
const TEXT_WHEN_FULL: Transcript = [
  ['set keynew01 0 0 1\r\nx\r\n', OUT_OF_MEMORY],
  // The allocation comes first: add, replace, cas, append fail whether or not they would store.
  ['add keynew02 0 0 1\r\nx\r\n', OUT_OF_MEMORY],
  ['add keysm001 0 0 1\r\ny\r\n', OUT_OF_MEMORY],
  ['replace keymiss1 0 0 1\r\ny\r\n', OUT_OF_MEMORY],
  ['cas keymiss1 0 0 1 5\r\ny\r\n', OUT_OF_MEMORY],
  ['append keysm002 0 0 1\r\ny\r\n', OUT_OF_MEMORY],
  ['prepend keymiss1 0 0 1\r\ny\r\n', OUT_OF_MEMORY],
  ['get keysm001 keysm002\r\n', 'VALUE keysm001 0 1\r\nx\r\nVALUE keysm002 0 1\r\nx\r\nEND\r\n'],
  // incr needs a new item only when the number grows.
  ['incr keynum01 1\r\n', 'SERVER_ERROR out of memory\r\n'],
  ['decr keysm007 1\r\n', '98\r\n'],
  ['ma keynum01 v\r\n', 'SERVER_ERROR out of memory\r\n'],
  ['ma keyviv02 N30 J5 v\r\n', 'SERVER_ERROR Out of memory allocating new item\r\n'],
  ['mg keyviv01 N30 v\r\n', 'EN\r\n'],
  ['get keynum01\r\n', 'VALUE keynum01 0 1\r\n9\r\nEND\r\n'],
  // A set that cannot allocate drops the key's item (no stale value outlives it): room for one.
  ['set keysm003 0 0 1\r\nz\r\n', OUT_OF_MEMORY],
  ['get keysm003\r\n', 'END\r\n'],
  // The client's item fits in that room, the appended one beside it does not.
  ['ms keysm004 1 MA\r\nz\r\n', 'NS\r\n'],
  ['ms keysm004 1 ME\r\nz\r\n', 'NS\r\n'],
  ['ms keynewm1 1\r\nz\r\n', 'HD\r\n'],
  // ms drops the stored item in any mode.
  ['ms keysm005 1 MR\r\nz\r\n', OUT_OF_MEMORY],
  ['get keysm004 keysm005 keynewm1\r\n', 'VALUE keysm004 0 1\r\nx\r\nVALUE keynewm1 0 1\r\nz\r\nEND\r\n'],
  ['mg keyviv03 N30 v\r\n', 'VA 0 W\r\n\r\n'],
  ['set keynew03 0 0 1\r\nx\r\n', OUT_OF_MEMORY],
  ['delete keysm001\r\n', 'DELETED\r\n'],
  ['delete keysm002\r\n', 'DELETED\r\n'],
  ['set keynew04 0 0 1\r\nx\r\n', 'STORED\r\n'],
  ['add keynew05 0 0 1\r\nx\r\n', 'STORED\r\n'],
  ['set keynew06 0 0 1\r\nx\r\n', OUT_OF_MEMORY],
];

const BINARY_WHEN_FULL: BinRequest[] = [
  binSet('keynew07', 'x', 0n, Op.add),
  binSet('keynum01', 'x', 0n, Op.add),
  binSet('keynum01', 'x', 0n, Op.replace),
  { opcode: Op.append, key: key('keynum01'), value: key('x') },
  { opcode: Op.prepend, key: key('keynum01'), value: key('x') },
  { opcode: Op.incr, key: key('keynum01'), extras: arithExtras(1n, 0n, 0) },
  { opcode: Op.incr, key: key('keyinc01'), extras: arithExtras(1n, 5n, 0) },
  binSet('keynum01', 'y', 12345n), // a SET with a CAS drops the item too
  { opcode: Op.get, key: key('keynum01') },
  binSet('keysm007', 'y'), // the dropped item's room takes it, and its old item's room is freed
  binSet('keynew08', 'x'),
  { opcode: Op.get, key: key('keysm007') },
];
const BINARY_WHEN_FULL_REPLIES = [
  [ENOMEM, 'Out of memory allocating item'], [ENOMEM, 'Out of memory allocating item'], [ENOMEM, 'Out of memory allocating item'],
  [ENOMEM, 'Out of memory allocating item'], [ENOMEM, 'Out of memory allocating item'],
  [ENOMEM, 'Out of memory incrementing value'], [ENOMEM, 'Out of memory allocating new item'],
  [ENOMEM, 'Out of memory allocating item'], [0x01, 'Not found'], [0, ''], [0, ''], [0, 'y'],
];

/** 100000-byte sets until one is refused (memcached 1.6.18 -m 2 -I 512k stored 21 of them). */
async function setBigUntilRefused(port: number, bigValue: string, attempts: number): Promise<{ stored: string[]; replies: string[] }> {
  const requests = Array.from({ length: attempts }, (_, i) => `set big${i} 0 0 ${bigValue.length}\r\n${bigValue}\r\n`);
  const out = replies(await transcript(port, requests));
  const stored = out.flatMap((reply, i) => (reply === 'STORED\r\n' ? [`big${i}`] : []));
  return { stored, replies: out };
}

describe('-M: a full cache refuses stores instead of evicting, as memcached -M', () => {
  test('every store command answers as memcached\'s once memory is full, and nothing is evicted', async () => {
    const servers = await startPair(['-M', ...SMALL_MEMORY_ARGS]);
    try {
      const results = [];
      for (const server of [servers.memcached, servers.mucached]) {
        await fillUp(server.port);
        const before = await stats(server.port);
        const text = await transcript(server.port, TEXT_WHEN_FULL.map(([request]) => request));
        const binary = (await binaryReplies(server.port, BINARY_WHEN_FULL)).map(visible);
        const after = await stats(server.port);
        const delta = (name: string) => Number(after[name]) - Number(before[name]);
        results.push({ text, binary, evictions: after.evictions, counted: ['cmd_set', 'store_no_memory', 'curr_items'].map((n) => [n, delta(n)]) });
      }
      const [reference, subject] = results;
      expect(reference.text).toEqual(TEXT_WHEN_FULL);
      expect(reference.binary.map((r) => [r.status, r.value])).toEqual(BINARY_WHEN_FULL_REPLIES);
      expect(reference.evictions).toBe('0');
      expect(subject).toEqual(reference);
    } finally {
      await servers.memcached.stop();
      await servers.mucached.stop();
    }
  });

  test('100 KB values: once one set is refused every further one is, stored keys stay, a delete makes room', async () => {
    const servers = await startPair(['-M', ...SMALL_MEMORY_ARGS]);
    const bigValue = 'b'.repeat(100_000);
    try {
      for (const server of [servers.memcached, servers.mucached]) {
        const { stored, replies: answered } = await setBigUntilRefused(server.port, bigValue, 60);
        expect(stored.length).toBeGreaterThanOrEqual(15);
        expect(answered).toEqual([...Array(stored.length).fill('STORED\r\n'), ...Array(60 - stored.length).fill(OUT_OF_MEMORY)]);
        for (const k of stored) await waitForValue(server.port, k, bigValue, 2000);
        expect(await stats(server.port)).toMatchObject({ evictions: '0', curr_items: String(stored.length) });
        expect(await exchange(server.port, 'delete big0\r\n', (r) => r.endsWith('\r\n'))).toBe('DELETED\r\n');
        expect(replies(await transcript(server.port, [`set again 0 0 100000\r\n${bigValue}\r\n`, `set more 0 0 100000\r\n${bigValue}\r\n`])))
          .toEqual(['STORED\r\n', OUT_OF_MEMORY]);
      }
    } finally {
      await servers.memcached.stop();
      await servers.mucached.stop();
    }
  });

  test('without -M the same sets evict the least recently used keys and are all stored', async () => {
    const servers = await startPair(SMALL_MEMORY_ARGS);
    const bigValue = 'b'.repeat(100_000);
    try {
      for (const server of [servers.memcached, servers.mucached]) {
        const { stored } = await setBigUntilRefused(server.port, bigValue, 60);
        expect(stored.length).toBe(60);
        expect(Number((await stats(server.port)).evictions)).toBeGreaterThan(0);
        await waitForValue(server.port, 'big0', null, 2000);
        await waitForValue(server.port, 'big59', bigValue, 2000);
      }
    } finally {
      await servers.memcached.stop();
      await servers.mucached.stop();
    }
  });
});

describe('-M on a 3-node cluster', () => {
  let cluster: TestCluster | undefined;
  afterAll(async () => { await cluster?.stopAll(); });

  test('the leader refuses stores when full, whichever node they reach; no node evicts or loses a key', async () => {
    cluster = await makeCluster(3, 'shm', ['-M', ...SMALL_MEMORY_ARGS]);
    await Promise.all([1, 2, 3].map((id) => cluster!.start(id)));
    const leader = await waitForLeader(cluster);
    const port = (id: number) => cluster!.nodes[id - 1].clientPort;
    const followers = [1, 2, 3].filter((id) => id !== leader);
    const bigValue = 'c'.repeat(100_000);
    // Sent to a follower: forwarded to the leader, which decides against what is committed and in flight.
    const { stored, replies: answered } = await setBigUntilRefused(port(followers[0]), bigValue, 30);
    expect(stored.length).toBeGreaterThanOrEqual(15);
    expect(answered).toEqual([...Array(stored.length).fill('STORED\r\n'), ...Array(30 - stored.length).fill(OUT_OF_MEMORY)]);
    for (const id of [leader, followers[1]]) {
      expect(await exchange(port(id), `set elsewhere 0 0 100000\r\n${bigValue}\r\n`, (r) => r.endsWith('\r\n'))).toBe(OUT_OF_MEMORY);
    }
    for (const id of [1, 2, 3]) {
      for (const k of stored) await waitForValue(port(id), k, bigValue);
      expect(await stats(port(id))).toMatchObject({ evictions: '0', curr_items: String(stored.length) });
    }
    expect(await exchange(port(followers[1]), 'delete big0\r\n', (r) => r.endsWith('\r\n'))).toBe('DELETED\r\n');
    expect(await exchange(port(leader), `set again 0 0 100000\r\n${bigValue}\r\n`, (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');
    for (const id of [1, 2, 3]) {
      await waitForValue(port(id), 'again', bigValue);
      await waitForValue(port(id), 'big0', null);
    }
  });
});
