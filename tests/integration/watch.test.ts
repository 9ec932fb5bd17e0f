/**
 * `watch`: a connection that sends it gets memcached's log stream. The same commands to memcached
 * 1.6.18 and to mucached give the same lines (times, event numbers, descriptors and client ports
 * masked); evictions have memcached's fields; a watcher that stops reading loses lines but never
 * their count; a watcher is left alone by idle_timeout.
 */
import * as net from 'net';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';
import type { RunningServer } from '../helpers/procs';

jest.setTimeout(60_000);

const tracked = trackedServers();

/** A raw watcher connection: everything it received, as text. */
class Watcher {
  received = '';
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => { this.received += d.toString('latin1'); });
    socket.on('error', () => undefined);
  }

  static async open(port: number, types: string): Promise<Watcher> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const w = new Watcher(socket);
    socket.write(`watch ${types}\r\n`.replace(/ \r\n$/, '\r\n'));
    await w.until((t) => t.startsWith('OK\r\n') || t.startsWith('ERROR'), 'OK');
    return w;
  }

  /** Waits (bounded) until the received text satisfies `done`. */
  async until(done: (text: string) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.received)) {
      if (Date.now() > deadline) throw new Error(`watcher: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.received.slice(-500))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  lines(): string[] {
    return this.received.split('\n').filter((l) => l.startsWith('ts='));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A line with what differs between any two runs masked. */
function masked(line: string): string {
  return line.replace(/^ts=\d+\.\d{1,6} gid=\d+ /, '').replace(/cfd=-?\d+/, 'cfd=N').replace(/rport=\d+/, 'rport=N');
}

const COMMANDS = [
  'set a 0 0 1\r\nx\r\n', 'get a\r\n', 'get b\r\n', 'gets a b\r\n', 'delete a\r\n', 'add c 5 100 2\r\nhi\r\n', 'append c 0 0 1\r\n!\r\n',
  'prepend c 0 0 1\r\n<\r\n', 'incr c 1\r\n', 'touch c 10\r\n', 'gat 0 c\r\n', 'mg c v\r\n', 'ms d 2\r\nhi\r\n', 'md d\r\n',
  'cas c 0 0 1 999\r\nx\r\n', 'replace zz 0 0 1\r\nx\r\n', 'set e 0 0 1\r\n5\r\n', 'incr e 3\r\n', 'set k%25\u00e9 0 0 1\r\nx\r\n',
  'ms YmluYXJ5 2 b\r\nhi\r\n', 'quit\r\n',
];

async function transcript(which: (args: string[]) => Promise<RunningServer>): Promise<string[]> {
  const { server } = await tracked.open(which);
  const watcher = await Watcher.open(server.port, 'fetchers mutations connevents');
  try {
    const client = net.connect(server.port, '127.0.0.1');
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    // One command at a time, each answered before the next (memcached's order within a burst is the same, but this keeps it simple).
    for (const command of COMMANDS) {
      const replied = new Promise<void>((resolve) => client.once('data', () => resolve()));
      client.write(Buffer.from(command, 'latin1'));
      if (command !== 'quit\r\n') await replied;
    }
    await new Promise<void>((resolve) => client.once('close', resolve));
    await watcher.until((t) => t.includes('type=conn_close'), 'conn_close');
    const lines = watcher.lines();
    // Event numbers grow by one per event this watcher saw or another kind took.
    const gids = lines.map((l) => Number(/gid=(\d+)/.exec(l)![1]));
    for (let k = 1; k < gids.length; k++) expect(gids[k]).toBeGreaterThan(gids[k - 1]);
    // The sentinel session of trackedServers connected before the watcher: only the client is seen.
    return lines.map(masked);
  } finally {
    watcher.close();
  }
}

it('streams the same fetchers, mutations and connevents lines as memcached for the same commands', async () => {
  const theirs = await transcript(startReference);
  const ours = await transcript(startSubject);
  expect(theirs[0]).toBe('type=conn_new rip=127.0.0.1 rport=N transport=tcp cfd=N');
  expect(theirs).toContain('type=item_store key=c status=stored cmd=append ttl=100 clsid=1 cfd=N size=3');
  expect(ours).toEqual(theirs);
});

it('a lookup of an expired item says so (memcached\'s own answer depends on its LRU maintainer\'s timing)', async () => {
  const { server, session } = await tracked.open(startSubject);
  const watcher = await Watcher.open(server.port, 'fetchers mutations');
  await session.text('set gone 0 -1 1\r\nx\r\nget gone\r\n');
  await watcher.until((t) => (t.match(/key=gone/g) ?? []).length >= 3, 'the get of gone');
  expect(watcher.lines().map(masked)).toEqual([
    'type=item_get key=gone status=not_found clsid=0 cfd=N size=0',
    'type=item_store key=gone status=stored cmd=set ttl=0 clsid=1 cfd=N size=1',
    'type=item_get key=gone status=expired clsid=0 cfd=N size=0',
  ]);
  watcher.close();
});

it('answers ERROR to an unknown type, as memcached; a plain watch is fetchers only', async () => {
  for (const which of [startReference, startSubject]) {
    const { server, session } = await tracked.open(which);
    const bad = await Watcher.open(server.port, 'fetchers nonsense');
    expect(bad.received).toBe('ERROR\r\n');
    bad.close();
    const plain = await Watcher.open(server.port, '');
    await session.text('set x 0 0 1\r\nx\r\nget x\r\n');
    await plain.until((t) => t.includes('key=x status=found'), 'the get');
    expect(plain.lines().map(masked)).toEqual(['type=item_get key=x status=not_found clsid=0 cfd=N size=0', 'type=item_get key=x status=found clsid=1 cfd=N size=1']);
    plain.close();
  }
});

it('-W refuses every watch, known types or not, with memcached\'s words', async () => {
  const replies: string[] = [];
  for (const which of [startReference, startSubject]) {
    const { session } = await tracked.open(which, ['-W']);
    replies.push(await session.text('watch\r\nwatch nonsense\r\nwatch fetchers\r\n'));
  }
  expect(replies[0]).toBe('CLIENT_ERROR watch commands not allowed\r\n'.repeat(3));
  expect(replies[1]).toBe(replies[0]);
});

it('evictions: one line per item evicted, with its fetch state, ttl, last access, class and size', async () => {
  const { server, session } = await tracked.open(startSubject, ['-m', '8']);
  const watcher = await Watcher.open(server.port, 'evictions');
  const value = 'v'.repeat(100_000);
  await session.text('set first 0 0 1\r\nx\r\nget first\r\nset ttl 0 1000 1\r\ny\r\n');
  for (let i = 0; i < 100; i++) await session.text(`set big${i} 0 0 ${value.length}\r\n${value}\r\n`);
  await watcher.until((t) => t.includes('key=big0 '), 'the eviction of big0');
  const lines = watcher.lines().map(masked);
  for (const l of watcher.lines()) expect(l).toMatch(/^ts=\d{10}\.\d{1,6} gid=\d+ type=eviction /);
  expect(lines[0]).toMatch(/^type=eviction key=first fetch=yes ttl=-1 la=\d+ clsid=1 size=1$/);
  expect(lines[1]).toMatch(/^type=eviction key=ttl fetch=no ttl=(999|1000) la=\d+ clsid=1 size=1$/);
  expect(lines[2]).toMatch(/^type=eviction key=big0 fetch=no ttl=-1 la=\d+ clsid=\d+ size=100000$/);
  watcher.close();
});

it('a watcher that stops reading loses lines, not their count: every event is sent or counted in skipped=', async () => {
  const { server, session } = await tracked.open(startSubject);
  const watcher = await Watcher.open(server.port, 'fetchers');
  watcher.socket.pause();
  const gets = 100_000;
  const batch = 'get some-key-that-is-not-there\r\n'.repeat(1000);
  for (let i = 0; i < gets / 1000; i++) await session.text(batch);
  watcher.socket.resume();
  // One more event after the backlog drains brings the skipped count out.
  const counted = () => {
    const delivered = watcher.lines().length;
    const skipped = [...watcher.received.matchAll(/^skipped=(\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    return { delivered, skipped };
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    await session.text('get last-one\r\n');
    const { delivered, skipped } = counted();
    if (delivered + skipped >= gets + attempt + 1 && watcher.received.includes('key=last-one')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const { delivered, skipped } = counted();
  expect(skipped).toBeGreaterThan(0);
  // Every get of the batches and of the loop is accounted for, once.
  const lastOnes = watcher.lines().filter((l) => l.includes('key=last-one')).length;
  expect(delivered - lastOnes + skipped).toBeGreaterThanOrEqual(gets);
  expect(delivered + skipped).toBeLessThanOrEqual(gets + 100);
  watcher.close();
});

it('idle_timeout closes idle clients but not a watcher; the watcher sees why they were closed', async () => {
  const { server } = await tracked.open(startSubject, ['-o', 'idle_timeout=1']);
  const watcher = await Watcher.open(server.port, 'connevents');
  const idle = net.connect(server.port, '127.0.0.1');
  idle.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  await closed;
  await watcher.until((t) => t.includes('reason=idle_timeout'), 'the idle client closed');
  // Well past the timeout, the watcher is still served.
  await new Promise((r) => setTimeout(r, 2500));
  const late = net.connect(server.port, '127.0.0.1');
  late.on('error', () => undefined);
  await watcher.until((t) => (t.match(/type=conn_new/g) ?? []).length >= 2, 'the next conn_new');
  late.destroy();
  watcher.close();
});
