/**
 * The same byte sequences against stock memcached 1.6.18 and against our daemon (dist/): the
 * replies must be byte-identical, and so must the command counters in `stats` afterwards.
 */
import { escapeBytes } from '../helpers/escape';
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';
import { WireConn } from '../helpers/wireConn';
import { Scenario, SCENARIOS } from './scenarios';

const SENTINEL = 'mn\r\n';
const REPLY_TIMEOUT_MS = 5000;

async function run(port: number, s: Scenario): Promise<{ bytes: Buffer; closed: boolean }> {
  const conn = await WireConn.open(port);
  try {
    const pieces = s.pieces.map((p) => Buffer.from(p, 'latin1'));
    if (!s.closes) pieces.push(Buffer.from(SENTINEL));
    await conn.write(pieces);
    // A scenario may send mn itself: wait for as many MN replies as mn commands went out, so a reply
    // split across reads does not end the wait early.
    const mnSent = pieces.reduce((n, p) => n + (p.toString('latin1').match(/(?<=^|\n)mn( [^\r\n]*)?\r\n/g)?.length ?? 0), 0);
    const out = await conn.readUntil((b) => !s.closes && (b.toString('latin1').match(/MN\r\n/g)?.length ?? 0) >= mnSent, REPLY_TIMEOUT_MS);
    return { bytes: out.bytes, closed: out.closed };
  } finally {
    conn.destroy();
  }
}

async function counters(port: number): Promise<string[]> {
  const conn = await WireConn.open(port);
  try {
    await conn.write([Buffer.from('stats\r\n')]);
    const out = await conn.readUntil((b) => b.toString().endsWith('END\r\n'), REPLY_TIMEOUT_MS);
    // get_flushed/get_expired are the engine's (lookups of flushed/expired items), not the handler's.
    return out.bytes.toString().split('\r\n')
      .filter((l) => /^STAT (cmd_|get_|delete_|incr_|decr_|cas_|touch_|store_)/.test(l))
      .filter((l) => !/^STAT get_(flushed|expired) /.test(l));
  } finally {
    conn.destroy();
  }
}

describe('ASCII protocol: mucached vs memcached 1.6.18', () => {
  let memcached: RunningServer;
  let mucached: RunningServer;

  beforeAll(async () => {
    memcached = await startMemcached();
    mucached = await startMucached();
  });
  afterAll(async () => {
    await memcached?.stop();
    await mucached?.stop();
  });

  // Sequential on purpose: scenarios share server state in order.
  test('every scenario replies byte-identically, then the counters agree', async () => {
    const failures: string[] = [];
    for (const s of SCENARIOS) {
      const [want, got] = [await run(memcached.port, s), await run(mucached.port, s)];
      if (!want.bytes.equals(got.bytes) || want.closed !== got.closed) {
        failures.push(`${s.name}\n  memcached: ${escapeBytes(want.bytes)}${want.closed ? ' [closed]' : ''}\n  mucached:  ${escapeBytes(got.bytes)}${got.closed ? ' [closed]' : ''}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await counters(mucached.port)).toEqual(await counters(memcached.port));
  });

  test('version', async () => {
    const out = await run(mucached.port, { name: 'version', pieces: ['version\r\n'] });
    expect(out.bytes.toString()).toMatch(/^VERSION \S+\r\nMN\r\n$/);
  });
});
