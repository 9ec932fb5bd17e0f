/**
 * Slow readers against the real daemon (dist/): a client that pipelines gets of a large value, or
 * a storm of small commands, and never reads its socket does not make the daemon buffer without
 * bound (RSS from /proc stays within a generous bound far below what it was sent), other clients
 * are served meanwhile, and once the client reads it receives every reply, whole and in order.
 */
import { Opcode } from '../../protocol/binary/constants';
import { keyed, store } from '../binary/scenarios';
import { exchange } from '../helpers/cluster';
import { RunningServer, startMucached } from '../helpers/procs';
import { peakRssMiB, rssMiB, SlowReader } from './support';

jest.setTimeout(60_000);

const VALUE_BYTES = 512 * 1024;
const GETS = 1000; // 500 MiB of replies: the daemon must not hold them
/** Growth allowed over the RSS before the storm: the output budget, a slice, V8 and slack. */
const MAX_GROWTH_MIB = 150;

let daemon: RunningServer;
let pid: number;

beforeAll(async () => {
  daemon = await startMucached(['-m', '64', '-I', '1m']);
  pid = daemon.proc.pid!;
  const value = 'v'.repeat(VALUE_BYTES);
  expect(await exchange(daemon.port, `set big 0 0 ${VALUE_BYTES}\r\n${value}\r\nset small 0 0 5\r\nhello\r\n`, (r) => r === 'STORED\r\nSTORED\r\n')).toBe('STORED\r\nSTORED\r\n');
});

afterAll(async () => {
  await daemon?.stop();
});

const version = () => exchange(daemon.port, 'version\r\n', (r) => r.endsWith('\r\n'));

async function pipelinedGetsNotRead(request: Buffer, replyBytes: number): Promise<void> {
  const before = rssMiB(pid);
  const slow = await SlowReader.connect(daemon.port);
  try {
    slow.send(request);
    const peak = await peakRssMiB(pid, 12, 150);
    expect({ growthMiB: Math.round(peak - before), boundMiB: MAX_GROWTH_MIB, ok: peak - before < MAX_GROWTH_MIB })
      .toMatchObject({ ok: true });
    expect(await version()).toMatch(/^VERSION /);
    const received = await slow.readAtLeast(replyBytes * GETS, 40_000);
    expect(received).toBe(replyBytes * GETS);
  } finally {
    slow.destroy();
  }
  return undefined;
}

test('text: pipelined gets of a 512 KiB value, not read: RSS stays bounded, then every reply arrives', async () => {
  const reply = `VALUE big 0 ${VALUE_BYTES}\r\n`.length + VALUE_BYTES + '\r\nEND\r\n'.length;
  await pipelinedGetsNotRead(Buffer.from('get big\r\n'.repeat(GETS)), reply);
});

test('binary: pipelined GETs of a 512 KiB value, not read: RSS stays bounded, then every reply arrives', async () => {
  const get = keyed(Opcode.GET, 'big');
  const reply = 24 + 4 + VALUE_BYTES; // header, flags, value
  await pipelinedGetsNotRead(Buffer.concat(Array.from({ length: GETS }, () => get)), reply);
});

test('a storm of small commands from a client that never reads: the daemon stops reading it and stays small', async () => {
  const before = rssMiB(pid);
  const slow = await SlowReader.connect(daemon.port);
  const stormBytes = 48 * 1024 * 1024;
  try {
    const line = Buffer.from('get small\r\n');
    const chunk = Buffer.concat(Array.from({ length: Math.floor(1024 * 1024 / line.length) }, () => line));
    for (let sent = 0; sent < stormBytes; sent += chunk.length) slow.send(chunk);
    const peak = await peakRssMiB(pid, 12, 150);
    expect({ growthMiB: Math.round(peak - before), ok: peak - before < MAX_GROWTH_MIB }).toMatchObject({ ok: true });
    // The daemon took only what its budget and the kernel's buffers hold: the rest is still ours.
    expect(slow.unsentBytes).toBeGreaterThan(stormBytes / 2);
    expect(await version()).toMatch(/^VERSION /);
  } finally {
    slow.destroy();
  }
  // A binary client is unaffected afterwards.
  const client = await SlowReader.connect(daemon.port);
  try {
    client.send(store(Opcode.SET, 'after', 'ok'));
    expect(await client.readAtLeast(24, 5000)).toBe(24);
    expect([client.tail.charCodeAt(0), client.tail.charCodeAt(7)]).toEqual([0x81, 0]); // response, status 0 (stored)
  } finally {
    client.destroy();
  }
});
