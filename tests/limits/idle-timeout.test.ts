/**
 * Slowloris and idle clients (-c, -o idle_timeout), against the real daemon and, where the
 * behaviour is memcached's, against memcached 1.6.18 too:
 * - idle_timeout closes idle clients and clients trickling a command that never completes; a
 *   client sending commands stays connected.
 * - With -c N held by N slowloris clients, the next client gets memcached's -c error; with
 *   idle_timeout they are reaped and a real client is served; without it the daemon stays up.
 * - The -o list is parsed like memcached's (unknown suboptions refused, known ones we do not
 *   implement accepted with a warning).
 */
import { spawnSync } from 'child_process';
import { ExtendedOptions, parseExtendedOptions } from '../../daemon/cli-args';
import { exchange } from '../helpers/cluster';
import { daemonCli, RunningServer, startMemcached, startMucached } from '../helpers/procs';
import { sleep, SlowReader } from './support';

jest.setTimeout(60_000);

const TOO_MANY = 'ERROR Too many open connections\r\n';

/** Sends one byte of an unfinished command every `everyMs` until stopped (never a newline). */
function trickle(client: SlowReader, everyMs: number): () => void {
  client.socket.resume(); // nothing is expected but the server's close
  let stopped = false;
  const text = 'get slowlorisslowlorisslowlorisslowloris';
  let i = 0;
  const timer = setInterval(() => {
    if (stopped || client.closed || i >= text.length) return;
    client.send(Buffer.from(text[i++]));
  }, everyMs);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** Waits (bounded) for the server to close `client`; true if it did. */
async function closedWithin(client: SlowReader, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!client.closed && Date.now() < deadline) await sleep(50);
  return client.closed;
}

/** Tries `version` on fresh connections (bounded) until one is answered; returns the attempts. */
async function servedWithin(port: number, timeoutMs: number): Promise<{ served: boolean; replies: string[] }> {
  const deadline = Date.now() + timeoutMs;
  const replies: string[] = [];
  for (let attempt = 0; Date.now() < deadline && attempt < 100; attempt++) {
    const reply = await exchange(port, 'version\r\n', (r) => r.endsWith('\r\n'), 2000).catch((e: Error) => `failed: ${e.message}`);
    replies.push(reply);
    if (reply.startsWith('VERSION ')) return { served: true, replies };
    await sleep(200);
  }
  return { served: false, replies };
}

describe.each([['memcached'], ['mucached']])('idle_timeout=1 on %s', (which) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = which === 'memcached' ? await startMemcached(['-o', 'idle_timeout=1']) : await startMucached(['-o', 'idle_timeout=1']);
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('an idle client and a trickling client are closed; a client sending commands is not', async () => {
    const idle = await SlowReader.connect(server.port);
    const loris = await SlowReader.connect(server.port);
    const active = await SlowReader.connect(server.port);
    const stopTrickle = trickle(loris, 150);
    idle.socket.resume(); // sees the server's close; nothing else arrives
    let answered = 0;
    active.socket.resume();
    active.socket.on('data', (d: Buffer) => { answered += (d.toString().match(/VERSION /g) ?? []).length; });
    const startedMs = Date.now();
    const sender = setInterval(() => active.send(Buffer.from('version\r\n')), 300);
    try {
      // memcached counts whole seconds and scans about once a second: closed after 2..3 s.
      const idleClosed = await closedWithin(idle, 4500);
      const lorisClosed = await closedWithin(loris, 1000);
      await sleep(Math.max(0, startedMs + 3000 - Date.now())); // the active client outlives 2x the limit
      expect({ idleClosed, lorisClosed, activeClosed: active.closed }).toEqual({ idleClosed: true, lorisClosed: true, activeClosed: false });
      expect(answered).toBeGreaterThanOrEqual(5);
    } finally {
      clearInterval(sender);
      stopTrickle();
      for (const c of [idle, loris, active]) c.destroy();
    }
  });
});

describe('-c 4 held by slowloris clients', () => {
  const N = 4;

  async function holdAllSlots(port: number): Promise<{ loris: SlowReader[]; stop: () => void }> {
    const loris: SlowReader[] = [];
    const stops: Array<() => void> = [];
    for (let i = 0; i < N; i++) {
      const c = await SlowReader.connect(port);
      loris.push(c);
      stops.push(trickle(c, 200));
    }
    await sleep(100); // the daemon has accepted them all
    return { loris, stop: () => { for (const s of stops) s(); for (const c of loris) c.destroy(); } };
  }

  test('with idle_timeout=1: the next client is refused at first, then served once they are reaped', async () => {
    const server = await startMucached(['-c', String(N), '-o', 'idle_timeout=1']);
    const { loris, stop } = await holdAllSlots(server.port);
    try {
      expect(await exchange(server.port, 'version\r\n', (r) => r.endsWith('\r\n'))).toBe(TOO_MANY);
      const { served, replies } = await servedWithin(server.port, 8000);
      expect({ served, replies: replies.slice(-3) }).toMatchObject({ served: true });
      const reaped = await Promise.all(loris.map((c) => closedWithin(c, 2000)));
      expect(reaped).toEqual(loris.map(() => true));
    } finally {
      stop();
      await server.stop();
    }
  });

  test('without idle_timeout: the next client gets the -c error, the daemon stays up and serves once they leave', async () => {
    const server = await startMucached(['-c', String(N)]);
    const { loris, stop } = await holdAllSlots(server.port);
    try {
      await sleep(2500); // longer than any idle limit would have been
      for (let i = 0; i < 3; i++) expect(await exchange(server.port, 'version\r\n', (r) => r.endsWith('\r\n'))).toBe(TOO_MANY);
      expect(loris.some((c) => c.closed)).toBe(false);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      stop();
    }
    try {
      const { served } = await servedWithin(server.port, 5000);
      expect(served).toBe(true);
    } finally {
      await server.stop();
    }
  });
});

describe('-o parsing', () => {
  test('memcached\'s -o list: idle_timeout read, known options ignored, unknown refused', () => {
    const ok: ExtendedOptions = parseExtendedOptions(['modern,idle_timeout=30', 'no_lru_crawler', 'ext_path=/tmp/x:1G']);
    // no_lru_crawler is taken (it turns the expiry crawler off), not ignored.
    expect(ok).toEqual({ idleTimeoutSec: 30, ssl: {}, crawler: { enabled: false }, trackSizes: false, ignored: ['modern', 'ext_path=/tmp/x:1G'] });
    // track_sizes is taken too (stats sizes from the start).
    expect(parseExtendedOptions(['track_sizes']).trackSizes).toBe(true);
    expect(parseExtendedOptions([]).idleTimeoutSec).toBe(0);
    expect(parseExtendedOptions(['idle_timeout=0']).idleTimeoutSec).toBe(0);
    expect(() => parseExtendedOptions(['bogus'])).toThrow('Illegal suboption "bogus"');
    expect(() => parseExtendedOptions(['idle_timeout=5, idle_timeout=3'])).toThrow('Illegal suboption " idle_timeout=3"');
    expect(() => parseExtendedOptions(['idle_timeout'])).toThrow('Missing numeric argument for idle_timeout');
    for (const bad of ['abc', '-1', '1.5', '', '99999999999']) expect(() => parseExtendedOptions([`idle_timeout=${bad}`])).toThrow(/whole number of seconds/);
  });

  test('the daemon refuses an unknown suboption as memcached does (exit 1, its message)', () => {
    for (const [args, message] of [[['-o', 'bogus'], 'Illegal suboption "bogus"'], [['-o', 'idle_timeout=soon'], 'whole number of seconds']] as const) {
      const r = spawnSync(process.execPath, [daemonCli, '-p', '0', ...args], { timeout: 15_000, encoding: 'utf8' });
      expect({ status: r.status, says: r.stderr.includes(message) }).toEqual({ status: 1, says: true });
    }
    const mc = spawnSync('memcached', ['-u', 'root', '-p', '0', '-U', '0', '-o', 'bogus'], { timeout: 15_000, encoding: 'utf8' });
    expect({ status: mc.status, says: mc.stderr.includes('Illegal suboption "bogus"') }).toEqual({ status: 1, says: true });
  });
});
