/**
 * memcached's listener and command flags, on the real daemon, and where the behaviour is
 * memcached's, byte for byte against memcached 1.6.18 started with the same flag:
 * -s/-a (UNIX socket instead of TCP, its mode, a stale socket file replaced, a live one kept),
 * -b (backlog), -B (protocols served), -A (shutdown command), -F (flush_all refused).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { encodeRequest as binRequest, Op } from '../helpers/binpkt';
import { memjs } from '../helpers/memjs';
import { daemonCli, freePort, RunningServer, startMemcached, startMucached } from '../helpers/procs';

jest.setTimeout(60_000);

interface Talk {
  reply: Buffer;
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Sends `request` on a new connection to a port or a UNIX socket path; reads until `done` says the
 * reply is whole, the server closes, or `quietMs` pass without a byte (an answer that never comes).
 */
function talk(target: number | string, request: Buffer | string, done: (reply: Buffer) => boolean = () => false, quietMs = 300): Promise<Talk> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect(target);
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(quiet);
      clearTimeout(limit);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closed });
    };
    const armQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    };
    const limit = setTimeout(() => finish(false), 10_000);
    socket.on('connect', () => {
      socket.write(request);
      armQuiet();
    });
    socket.on('data', (d) => {
      chunks.push(d);
      if (done(Buffer.concat(chunks))) finish(false);
      else armQuiet();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => {
      clearTimeout(quiet);
      clearTimeout(limit);
      reject(err);
    });
  });
}

const endsWith = (text: string) => (reply: Buffer) => reply.toString('latin1').endsWith(text);

function statsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^STAT (\S+) (.*)\r$/gm)) out[m[1]] = m[2];
  return out;
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
}

/** Starts the daemon on a UNIX socket; resolves once it listens there (bounded). */
async function startOnSocket(socketPath: string, extraArgs: string[] = []): Promise<{ proc: ReturnType<typeof spawn>; tcpPort: number; output: () => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [daemonCli, '-s', socketPath, '-p', String(port), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d.toString(); });
  proc.stderr!.on('data', (d) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!out.includes(`listening on unix:${socketPath}`)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not listen on ${socketPath}:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    tcpPort: port,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('-s and -a: a UNIX socket instead of TCP', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-sock-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves real clients on the socket with the mask\'s mode, opens no TCP port, and reports it in stats', async () => {
    const socketPath = path.join(dir, 'mucached.sock');
    const daemon = await startOnSocket(socketPath, ['-a', '766']);
    try {
      expect(fs.statSync(socketPath).isSocket()).toBe(true);
      expect(fs.statSync(socketPath).mode & 0o777).toBe(0o766);
      // -p was given too: memcached's -s disables network support all the same.
      expect(await connectRefused(daemon.tcpPort)).toBe(true);
      // pymemcache (Debian's python3-pymemcache) names a UNIX socket by its path.
      const py = spawnSync('/usr/bin/python3', ['-c', [
        'import sys',
        'from pymemcache.client.base import Client',
        'c = Client(sys.argv[1])',
        "c.set('viasocket', b'unix value')",
        "sys.stdout.write(c.get('viasocket').decode())",
      ].join('\n'), socketPath], { encoding: 'utf8', timeout: 20_000 });
      expect(py.stderr).toBe('');
      expect(py.stdout).toBe('unix value');
      const stats = await talk(socketPath, 'stats settings\r\nstats conns\r\n', (r) => (r.toString().match(/END\r\n/g) ?? []).length === 2);
      const text = stats.reply.toString();
      expect(statsOf(text).domain_socket).toBe(socketPath);
      expect(statsOf(text).umask).toBe('766');
      expect(text).toContain(`:addr unix:${socketPath}\r\n`);
    } finally {
      await daemon.stop();
    }
    // A clean stop takes its socket file with it.
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('replaces a socket file nobody listens on, and refuses one a live server answers on', async () => {
    const socketPath = path.join(dir, 'stale.sock');
    // A daemon killed with SIGKILL leaves its socket file behind.
    const first = await startOnSocket(socketPath);
    first.proc.kill('SIGKILL');
    await first.stop();
    expect(fs.existsSync(socketPath)).toBe(true);
    const second = await startOnSocket(socketPath);
    try {
      expect((await talk(socketPath, 'version\r\n', endsWith('\r\n'))).reply.toString()).toMatch(/^VERSION /);
      const port = await freePort();
      const third = spawnSync(process.execPath, [daemonCli, '-s', socketPath, '-p', String(port)], { encoding: 'utf8', timeout: 20_000 });
      expect(third.status).toBe(71);
      expect(third.stderr).toContain(`another server is listening on ${socketPath}`);
      // ...and the live one still serves.
      expect((await talk(socketPath, 'version\r\n', endsWith('\r\n'))).reply.toString()).toMatch(/^VERSION /);
    } finally {
      await second.stop();
    }
  });
});

describe('-b and -B', () => {
  it('-b sets the backlog that stats settings reports', async () => {
    const server = await startMucached(['-b', '77']);
    try {
      const reply = await talk(server.port, 'stats settings\r\n', endsWith('END\r\n'));
      expect(statsOf(reply.reply.toString()).tcp_backlog).toBe('77');
    } finally {
      await server.stop();
    }
  });

  it('-B binary: memjs is served; a text client is told why and closed', async () => {
    const server = await startMucached(['-B', 'binary']);
    const client = memjs.Client.create(`127.0.0.1:${server.port}`, { retries: 0, timeout: 2, logger: { log: () => undefined } });
    try {
      await client.set('binonly', 'yes');
      expect((await client.get('binonly')).value?.toString()).toBe('yes');
      const text = await talk(server.port, 'get binonly\r\n');
      expect(text.reply.toString()).toBe('CLIENT_ERROR this server speaks only the binary protocol (-B binary)\r\n');
      expect(text.closed).toBe(true);
      const settings = await new Promise<Record<string, string>>((resolve) => client.stats((_e, _s, st) => resolve(st ?? {})));
      expect(settings.pid).toBe(String(server.proc.pid));
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('-B ascii: text and meta are served; a binary client is closed without an answer it could not read', async () => {
    const server = await startMucached(['-B', 'ascii']);
    try {
      const text = await talk(server.port, 'set t 0 0 1\r\nx\r\nmg t v\r\nstats settings\r\n', endsWith('END\r\n'));
      expect(text.reply.toString()).toMatch(/^STORED\r\nVA 1\r\nx\r\n/);
      expect(statsOf(text.reply.toString()).binding_protocol).toBe('ascii');
      const binary = await talk(server.port, binRequest({ opcode: Op.version }));
      expect(binary.closed).toBe(true);
      expect(binary.reply.length).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe('-A and -F, against memcached 1.6.18 with the same flags', () => {
  let reference: RunningServer | undefined;
  let ours: RunningServer | undefined;
  afterEach(async () => {
    await reference?.stop();
    await ours?.stop();
    reference = ours = undefined;
  });

  it('without -A every shutdown form is refused; with -A a bad mode is refused and shutdown stops the server', async () => {
    const forms = 'shutdown foo\r\nshutdown graceful now\r\nshutdown noreply\r\nversion\r\n';
    const plainRef = await startMemcached();
    const plainOurs = await startMucached();
    try {
      for (const server of [plainRef, plainOurs]) {
        const reply = await talk(server.port, `shutdown\r\nshutdown graceful\r\n${forms}`, (r) => r.toString().includes('VERSION'));
        expect(reply.reply.toString()).toMatch(new RegExp(`^${'ERROR: shutdown not enabled\r\n'.repeat(5)}VERSION `));
      }
    } finally {
      await plainRef.stop();
      await plainOurs.stop();
    }
    reference = await startMemcached(['-A']);
    ours = await startMucached(['-A']);
    const replies = await Promise.all([reference, ours].map((s) => talk(s.port, forms, (r) => r.toString().includes('VERSION'))));
    expect(replies[1].reply.toString().replace(/VERSION .*/, 'VERSION')).toBe(replies[0].reply.toString().replace(/VERSION .*/, 'VERSION'));
    expect(replies[0].reply.toString()).toContain('CLIENT_ERROR invalid shutdown mode\r\n');
    for (const [server, mode] of [[reference, 'shutdown'], [ours, 'shutdown graceful']] as const) {
      const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
      const answer = await talk(server.port, `${mode}\r\n`);
      expect(answer.reply.length).toBe(0);
      expect(answer.closed).toBe(true);
      await exited;
    }
    expect(ours.proc.exitCode).toBe(0);
    expect(ours.output()).toContain('shutdown graceful command received, shutting down');
  });

  it('-F refuses flush_all (text and binary) with memcached\'s bytes and counts it as memcached does', async () => {
    reference = await startMemcached(['-F']);
    ours = await startMucached(['-F']);
    const text = 'set kept 0 0 1\r\nx\r\nflush_all\r\nflush_all 10\r\nflush_all bad\r\nflush_all noreply\r\nflush_all 1 2 3\r\nget kept\r\n';
    const flush = binRequest({ opcode: Op.flush, opaque: 0x1234 });
    const flushQuiet = binRequest({ opcode: Op.flushq, opaque: 0x5678, extras: Buffer.from([0, 0, 0, 5]) });
    const noop = binRequest({ opcode: Op.noop, opaque: 0x9abc });
    const out: Array<{ text: string; binary: string; cmdFlush: string }> = [];
    for (const server of [reference, ours]) {
      const t = await talk(server.port, text, endsWith('END\r\n'));
      const b = await talk(server.port, Buffer.concat([flush, flushQuiet, noop]), (r) => r.length >= 3 * 24 + 2 * 'Auth failure.'.length);
      const stats = await talk(server.port, 'stats\r\n', endsWith('END\r\n'));
      out.push({ text: t.reply.toString(), binary: b.reply.toString('hex'), cmdFlush: statsOf(stats.reply.toString()).cmd_flush });
    }
    expect(out[1]).toEqual(out[0]);
    expect(out[0].text).toContain('CLIENT_ERROR flush_all not allowed\r\n');
    expect(out[0].text).toContain('VALUE kept 0 1\r\nx\r\n');
  });
});
