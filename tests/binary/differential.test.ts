/**
 * The same binary request sequences against memcached 1.6.18 and against us: every reply byte
 * must match (CAS uniques included), except the version text and stat values.
 *
 * Target: the daemon from dist/ (build first); BINARY_DIFF_TARGET=inproc uses the handler behind
 * the real Connection class in this process instead.
 */
import * as net from 'net';
import { Opcode } from '../../protocol/binary/constants';
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';
import { startInprocBinaryServer } from './inproc-server';
import { RawClient, splitPackets } from './raw-client';
import { keyed, noop, req, scenarios, Scenario } from './scenarios';

const SENTINEL = 0x5e5e5e5e;
const CRAWL_WAIT_ATTEMPTS = 50;
const CRAWL_WAIT_STEP_MS = 200;

/** One text command and its first reply line (memcached answers text on its binary port too). */
function textCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply to '${line}' within 3 s`)); }, 3000);
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply.slice(0, end));
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

interface Server { port: number; stop(): Promise<void> }
let memcached: RunningServer;
let ours: Server;

beforeAll(async () => {
  memcached = await startMemcached();
  ours = process.env.BINARY_DIFF_TARGET === 'inproc' ? await startInprocBinaryServer() : await startMucached();
}, 30_000);

afterAll(async () => {
  await memcached?.stop();
  await ours?.stop();
});

async function run(port: number, scenario: Scenario): Promise<{ bytes: string; closed: boolean }> {
  const client = await RawClient.connect(port);
  try {
    client.send(Buffer.concat(scenario.requests));
    if (scenario.closes) {
      const { bytes, closed } = await client.take(() => false, 3000);
      return { bytes: bytes.toString('hex'), closed };
    }
    client.send(noop(SENTINEL));
    const { bytes, closed } = await client.take(
      (b) => splitPackets(b).packets.some((p) => p.opcode === Opcode.NOOP && p.opaque === SENTINEL), 5000);
    return { bytes: bytes.toString('hex'), closed };
  } finally {
    client.close();
  }
}

/** Replies as readable packets, for a useful diff when bytes differ. */
function describePackets(hex: string): string[] {
  const { packets, rest } = splitPackets(Buffer.from(hex, 'hex'));
  const lines = packets.map((p) => `op=${p.opcode.toString(16)} st=${p.status} opq=${p.opaque} cas=${p.cas} ext=${p.extras.toString('hex')} key=${JSON.stringify(p.key.toString('latin1'))} val=${JSON.stringify(p.value.toString('latin1').slice(0, 60))}`);
  if (rest.length > 0) lines.push(`partial ${rest.toString('hex')}`);
  return lines;
}

describe('binary protocol replies are byte-identical to memcached 1.6.18', () => {
  // Sequential on purpose: both servers must see the same history for CAS uniques to match.
  for (const scenario of scenarios) {
    test(scenario.name, async () => {
      const theirs = await run(memcached.port, scenario);
      // The scenario itself must be sound: memcached closes exactly when expected, else it answers
      // the sentinel noop (the stream stayed aligned).
      expect(theirs.closed).toBe(scenario.closes === true);
      if (process.env.BINARY_DIFF_DUMP) console.log(scenario.name, describePackets(theirs.bytes));
      const mine = await run(ours.port, scenario);
      expect(describePackets(mine.bytes)).toEqual(describePackets(theirs.bytes));
      expect(mine).toEqual(theirs);
    }, 20_000);
  }

  /** General stats by name, read with the binary STAT opcode. */
  const statValues = async (port: number, names: string[]): Promise<Record<string, string | undefined>> => {
    const scenario = { name: 'stats', requests: [keyed(Opcode.STAT, '')] };
    const packets = splitPackets(Buffer.from((await run(port, scenario)).bytes, 'hex')).packets;
    const byName = new Map(packets.map((p) => [p.key.toString('latin1'), p.value.toString('latin1')]));
    return Object.fromEntries(names.map((name) => [name, byName.get(name)]));
  };

  test('counters after all scenarios match memcached\'s', async () => {
    // get_flushed is left out: memcached counts it only for flushed items its background crawler has
    // not reclaimed yet (timing), while mucached drops flushed items at once.
    const counters = ['cmd_get', 'cmd_set', 'cmd_flush', 'cmd_touch', 'get_hits', 'get_misses', 'get_expired',
      'delete_misses', 'delete_hits', 'incr_misses', 'incr_hits', 'decr_misses', 'decr_hits',
      'cas_misses', 'cas_hits', 'cas_badval', 'touch_hits', 'touch_misses', 'store_too_large', 'store_no_memory',
      'auth_cmds', 'auth_errors'];
    expect(await statValues(ours.port, counters)).toEqual(await statValues(memcached.port, counters));
  });

  test('curr_items matches memcached\'s once memcached has reclaimed the flushed items', async () => {
    // mucached drops flushed items at once; memcached counts them until its LRU crawler reclaims
    // them, later on a loaded machine (a CI run once saw 2 there against our 1). So ask memcached to
    // crawl and wait, bounded, for its count to come down to ours. Its count only falls, to the
    // true number of live items, so a count of ours that is wrong either way is never reached.
    const mine = (await statValues(ours.port, ['curr_items'])).curr_items;
    let theirs: string | undefined;
    for (let attempt = 0; attempt < CRAWL_WAIT_ATTEMPTS; attempt++) {
      await textCommand(memcached.port, 'lru_crawler crawl all');
      theirs = (await statValues(memcached.port, ['curr_items'])).curr_items;
      if (theirs === mine) break;
      await new Promise((r) => setTimeout(r, CRAWL_WAIT_STEP_MS));
    }
    expect(mine).toMatch(/^\d+$/);
    expect(theirs).toBe(mine);
  });

  test('stat reset (matched as a prefix) answers the terminator and zeroes the counters', async () => {
    for (const server of [memcached, ours]) {
      const scenario = { name: 'reset', requests: [keyed(Opcode.STAT, 'resetting', { opaque: 6 }), keyed(Opcode.STAT, '')] };
      const packets = splitPackets(Buffer.from((await run(server.port, scenario)).bytes, 'hex')).packets;
      expect(packets[0].raw).toEqual(Buffer.from('811000000000000000000000000000060000000000000000', 'hex'));
      const stat = (name: string) => packets.find((p) => p.key.toString() === name)?.value.toString();
      expect([stat('cmd_get'), stat('cmd_set'), stat('get_hits')]).toEqual(['0', '0', '0']);
    }
  });

  test('version: same framing, our version text', async () => {
    const scenario = { name: 'version', requests: [req({ opcode: Opcode.VERSION, opaque: 9 })] };
    const [theirs] = splitPackets(Buffer.from((await run(memcached.port, scenario)).bytes, 'hex')).packets;
    const [mine] = splitPackets(Buffer.from((await run(ours.port, scenario)).bytes, 'hex')).packets;
    expect(theirs.value.toString()).toBe('1.6.18');
    expect(mine.value.toString()).toMatch(/^1\.6\.18/);
    expect({ ...mine, value: undefined, raw: undefined, bodyBytes: undefined })
      .toEqual({ ...theirs, value: undefined, raw: undefined, bodyBytes: undefined });
  });

  for (const group of ['', 'settings', 'items', 'slabs']) {
    test(`stat "${group}": one packet per stat with the opaque, an empty terminator, memcached's names`, async () => {
      const scenario = { name: group, requests: [keyed(Opcode.STAT, group, { opaque: 0x01020304 })] };
      const parse = async (port: number) => splitPackets(Buffer.from((await run(port, scenario)).bytes, 'hex')).packets
        .filter((p) => p.opcode === Opcode.STAT);
      const theirs = await parse(memcached.port);
      const mine = await parse(ours.port);
      for (const packets of [theirs, mine]) {
        expect(packets.every((p) => p.status === 0 && p.opaque === 0x01020304 && p.cas === 0n && p.extrasBytes === 0)).toBe(true);
        expect(packets[packets.length - 1].raw.length).toBe(24);
      }
      const names = (packets: typeof theirs) => packets.map((p) => p.key.toString('latin1'));
      // Same names in the same order, except what only exists in memcached's internals.
      const theirNames = names(theirs).filter((n) => names(mine).includes(n));
      expect(names(mine).filter((n) => names(theirs).includes(n))).toEqual(theirNames);
      expect(names(mine).filter((n) => !names(theirs).includes(n))).toEqual([]);
    });
  }
});
