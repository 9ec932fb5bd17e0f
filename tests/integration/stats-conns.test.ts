/**
 * `stats conns` against memcached 1.6.18: the listening socket first, then each client with its
 * address, the listener end it reached and what it is doing (the one asking is parsing, one in the
 * middle of a value is reading it, an idle one waits for a command). Descriptors, client ports and
 * seconds differ between any two servers, so they are masked; the rest is compared line for line.
 */
import * as net from 'net';
import { startReference, startSubject } from '../helpers/target';
import { trackedServers } from '../helpers/tracked-servers';
import type { RunningServer } from '../helpers/procs';

jest.setTimeout(60_000);

const tracked = trackedServers();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.on('error', () => undefined);
  return socket;
}

/** Sends `text` and waits (bounded) until the reply received so far satisfies `done`. */
async function ask(socket: net.Socket, text: string, done: (reply: string) => boolean): Promise<string> {
  let reply = '';
  const onData = (d: Buffer): void => { reply += d.toString('latin1'); };
  socket.on('data', onData);
  socket.write(text);
  for (let i = 0; i < 500 && !done(reply); i++) await sleep(10);
  socket.off('data', onData);
  if (!done(reply)) throw new Error(`no complete reply to ${JSON.stringify(text)}: ${JSON.stringify(reply)}`);
  return reply;
}

/**
 * The `stats conns` of `server` with one idle client (it sent a command earlier), one that sent half
 * a value, and the asking one, in that order of connection; descriptors become their rank (the
 * listener is 0), client ports and seconds are masked.
 */
async function statsConns(server: RunningServer): Promise<string[]> {
  const idle = await connect(server.port);
  await ask(idle, 'version\r\n', (r) => r.endsWith('\r\n'));
  const midValue = await connect(server.port);
  midValue.write('set half 0 0 10\r\nabc');
  const asking = await connect(server.port);
  await sleep(100);
  try {
    const reply = await ask(asking, 'stats conns\r\n', (r) => r.endsWith('END\r\n'));
    const lines = reply.split('\r\n').filter((l) => l.startsWith('STAT '));
    const ids = [...new Set(lines.map((l) => Number(/^STAT (\d+):/.exec(l)![1])))].sort((a, b) => a - b);
    return lines.map((l) => l
      .replace(/^STAT (\d+):/, (_, id: string) => `STAT fd${ids.indexOf(Number(id))}:`)
      .replace(/:(addr|listen_addr) tcp:127\.0\.0\.1:(\d+)$/, (_, field: string, port: string) => `:${field} tcp:127.0.0.1:${Number(port) === server.port ? 'PORT' : 'N'}`)
      .replace(/secs_since_last_cmd \d+$/, 'secs_since_last_cmd S'));
  } finally {
    for (const s of [idle, midValue, asking]) s.destroy();
  }
}

it('lists the listener and each client as memcached does', async () => {
  const reference = (await tracked.open(startReference)).server;
  const subject = (await tracked.open(startSubject)).server;
  const expected = await statsConns(reference);
  const got = await statsConns(subject);
  // The sentinel session each tracked server has open is one more idle client, in both.
  expect(expected).toContain('STAT fd0:state conn_listening');
  expect(expected).toContain('STAT fd3:state conn_nread');
  expect(got).toEqual(expected);
});
