/**
 * -Z (TLS), against memcached 1.6.18 started with the same certificates and options: the same
 * replies over TLS, the same refusals of clients that do not speak TLS or lack the certificate the
 * verify mode asks for, the same `stats settings`; pymemcache as a real TLS client; and
 * refresh_certs, which makes new connections get the certificate the files hold now.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import { daemonCli, freePort, RunningServer } from '../helpers/procs';
import { startReference, startSubject } from '../helpers/target';
import { makeTestPki, TestPki } from '../helpers/tls-certs';

jest.setTimeout(90_000);

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki?.remove());

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function both(args: string[]): Promise<RunningServer[]> {
  const out = [await startReference(args), await startSubject(args)];
  servers.push(...out);
  return out;
}

const tlsArgs = (extra: string[] = []) => ['-Z', '-o', [`ssl_chain_cert=${pki.serverCert}`, `ssl_key=${pki.serverKey}`, ...extra].join(',')];

interface Exchange {
  reply: string;
  /** Why the connection failed or was closed before `done`, if it was. */
  failure?: string;
  serverCertSerial?: string;
}

/** One TLS connection: sends `request` once the handshake is done, reads until `done` or a close. */
function overTls(port: number, request: string | Buffer, done: (reply: string) => boolean, client: { cert?: string; key?: string } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    let reply = '';
    let serial: string | undefined;
    const socket = tls.connect({
      port, host: '127.0.0.1', ca: fs.readFileSync(pki.caCert),
      ...(client.cert ? { cert: fs.readFileSync(client.cert), key: fs.readFileSync(client.key!) } : {}),
    }, () => {
      serial = socket.getPeerCertificate().serialNumber;
      socket.write(request);
    });
    const finish = (failure?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, failure, serverCertSerial: serial });
    };
    const timer = setTimeout(() => finish('no complete reply within 10 s'), 10_000);
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (done(reply)) finish();
    });
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish('closed'));
  });
}

const untilEnd = (r: string) => r.endsWith('END\r\n');

function plainTcp(port: number, request: string): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let reply = '';
    const timer = setTimeout(() => { socket.destroy(); resolve({ reply, closed: false }); }, 5000);
    socket.on('data', (d) => { reply += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(timer); resolve({ reply, closed: true }); });
  });
}

function stat(text: string, name: string): string | undefined {
  return new RegExp(`^STAT ${name} (.*)\\r$`, 'm').exec(text)?.[1];
}

it('serves text and meta over TLS with memcached\'s replies; a plain client is closed unanswered and counted', async () => {
  const script = 'set a 0 0 5\r\nhello\r\nget a\r\ngets a\r\nappend a 0 0 1\r\n!\r\nmg a v c f\r\nms b 2 T0\r\nhi\r\nincr a 1\r\ndelete b\r\nrefresh_certs noreply\r\nget a b\r\nmn\r\n';
  const replies: string[] = [];
  const servers = await both(tlsArgs());
  for (const server of servers) {
    const r = await overTls(server.port, script, (reply) => reply.endsWith('MN\r\n'));
    expect(r.failure).toBeUndefined();
    replies.push(r.reply);
    const plain = await plainTcp(server.port, 'version\r\n');
    expect(plain).toEqual({ reply: '', closed: true });
  }
  expect(replies[0]).toContain('VALUE a 0 6\r\nhello!\r\n');
  expect(replies[1]).toBe(replies[0]);
  // Counted here for every failed handshake (memcached 1.6.18 counts some failures and not others).
  const stats = await overTls(servers[1].port, 'stats\r\n', untilEnd);
  expect(stat(stats.reply, 'ssl_handshake_errors')).toBe('1');
  expect(stat(stats.reply, 'time_since_server_cert_refresh')).toMatch(/^\d+$/);
});

it('reports the TLS settings in stats settings as memcached does', async () => {
  const lines: string[][] = [];
  for (const server of await both(tlsArgs(['ssl_verify_mode=1', `ssl_ca_cert=${pki.caCert}`, 'ssl_min_version=3']))) {
    const r = await overTls(server.port, 'stats settings\r\n', untilEnd);
    lines.push(r.reply.split('\r\n').filter((l) => l.startsWith('STAT ssl_')));
  }
  expect(lines[0]).toContain('STAT ssl_enabled yes');
  expect(lines[0]).toContain('STAT ssl_min_version tlsv1.3');
  expect(lines[1]).toEqual(lines[0]);
});

it('pymemcache, a real client, stores and reads over TLS', async () => {
  const [, ours] = await both(tlsArgs());
  const py = spawnSync('/usr/bin/python3', ['-c', [
    'import ssl, sys',
    'from pymemcache.client.base import Client',
    'ctx = ssl.create_default_context(cafile=sys.argv[2])',
    "c = Client(('127.0.0.1', int(sys.argv[1])), tls_context=ctx)",
    "c.set('secret', b'over tls')",
    "sys.stdout.write(c.get('secret').decode())",
  ].join('\n'), String(ours.port), pki.caCert], { encoding: 'utf8', timeout: 20_000 });
  expect(py.stderr).toBe('');
  expect(py.stdout).toBe('over tls');
});

describe('client certificates', () => {
  it('verify mode 2 refuses a client without a certificate or with an untrusted one, and serves a CA-signed one, as memcached', async () => {
    const signed = pki.issue('client-a', 'client-a');
    const rogue = pki.untrusted('client-rogue');
    const outcomes: string[][] = [];
    for (const server of await both(tlsArgs(['ssl_verify_mode=2', `ssl_ca_cert=${pki.caCert}`]))) {
      const results = [
        await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n')),
        await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'), rogue),
        await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'), signed),
      ];
      outcomes.push(results.map((r) => (r.failure === undefined && r.reply.startsWith('VERSION ') ? 'served' : 'refused')));
    }
    expect(outcomes[0]).toEqual(['refused', 'refused', 'served']);
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('verify mode 1 serves a client without a certificate, refuses an untrusted one, as memcached', async () => {
    const rogue = pki.untrusted('client-rogue-1');
    const outcomes: string[][] = [];
    for (const server of await both(tlsArgs(['ssl_verify_mode=1', `ssl_ca_cert=${pki.caCert}`]))) {
      const results = [
        await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n')),
        await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'), rogue),
      ];
      outcomes.push(results.map((r) => (r.failure === undefined && r.reply.startsWith('VERSION ') ? 'served' : 'refused')));
    }
    expect(outcomes[0]).toEqual(['served', 'refused']);
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

it('refresh_certs: new connections get the rotated certificate, open ones go on; a broken file keeps the old one', async () => {
  const chain = `${pki.dir}/live.crt`;
  const key = `${pki.dir}/live.key`;
  fs.copyFileSync(pki.serverCert, chain);
  fs.copyFileSync(pki.serverKey, key);
  const server = await startSubject(['-Z', '-o', `ssl_chain_cert=${chain},ssl_key=${key}`]);
  servers.push(server);
  const before = await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'));
  const rotated = pki.issue('server-2', '127.0.0.1', '127.0.0.1');
  fs.copyFileSync(rotated.cert, chain);
  fs.copyFileSync(rotated.key, key);
  // The running connection asks for the reload and keeps working after it.
  const reload = await overTls(server.port, 'refresh_certs\r\nversion\r\n', (r) => r.includes('VERSION '));
  expect(reload.reply).toMatch(/^OK\r\nVERSION /);
  expect(reload.serverCertSerial).toBe(before.serverCertSerial);
  const after = await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'));
  expect(after.failure).toBeUndefined();
  expect(after.serverCertSerial).not.toBe(before.serverCertSerial);
  fs.writeFileSync(chain, 'not a certificate\n');
  const broken = await overTls(server.port, 'refresh_certs\r\n', (r) => r.endsWith('\r\n'));
  expect(broken.reply).toMatch(/^ERROR /);
  const still = await overTls(server.port, 'stats\r\n', untilEnd);
  expect(still.serverCertSerial).toBe(after.serverCertSerial);
});

it('refresh_certs without -Z answers as memcached; -Z without its certificate stops at start with the reason', async () => {
  const replies: string[] = [];
  for (const server of await both([])) {
    const r = await plainTcp(server.port, 'refresh_certs\r\nrefresh_certs noreply\r\nquit\r\n');
    replies.push(r.reply);
  }
  expect(replies[0]).toBe('Error TLS not enabled\r\n'.repeat(2));
  expect(replies[1]).toBe(replies[0]);
  const port = await freePort();
  const missing = spawnSync(process.execPath, [daemonCli, '-p', String(port), '-Z', '-o', `ssl_chain_cert=${pki.dir}/nope.crt,ssl_key=${pki.serverKey}`], { encoding: 'utf8', timeout: 20_000 });
  expect(missing.status).toBe(78);
  expect(missing.stderr).toContain(`cannot read the certificate chain (ssl_chain_cert) ${pki.dir}/nope.crt`);
});

it('-c bounds connections still in their TLS handshake too: a flood of half-open handshakes cannot take more', async () => {
  // idle_timeout also bounds a handshake (at most 10 s without it): the test waits 1 s, not 10.
  const server = await startSubject([...tlsArgs(['idle_timeout=1']), '-c', '2']);
  servers.push(server);
  // Two TCP connections that never start a handshake hold both slots.
  const idle = await Promise.all([0, 1].map(() => new Promise<net.Socket>((resolve) => {
    const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
  })));
  try {
    const refused = await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'));
    expect(refused.failure).toBeDefined();
    expect(refused.reply).toBe('');
    idle[0].destroy();
    // The slot comes back once that handshake has timed out (bounded wait).
    let served: Exchange | undefined;
    for (let attempt = 0; attempt < 60 && served?.reply.startsWith('VERSION ') !== true; attempt++) {
      await new Promise((r) => setTimeout(r, 50));
      served = await overTls(server.port, 'version\r\n', (r) => r.endsWith('\r\n'));
    }
    expect(served?.reply).toMatch(/^VERSION /);
  } finally {
    for (const s of idle) s.destroy();
  }
  // The sockets just destroyed still hold both slots until the server has seen them close.
  let stats = await overTls(server.port, 'stats\r\n', untilEnd);
  for (let attempt = 0; attempt < 60 && !untilEnd(stats.reply); attempt++) {
    await new Promise((r) => setTimeout(r, 50));
    stats = await overTls(server.port, 'stats\r\n', untilEnd);
  }
  expect(Number(stat(stats.reply, 'rejected_connections'))).toBeGreaterThanOrEqual(1);
});
