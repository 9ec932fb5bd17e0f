/**
 * `lru_crawler metadump` to a client that reads slowly: the daemon's Connection and text handler
 * on a loopback socket, in this process, so the bytes it holds for the client can be read. A dump
 * much larger than the connection's output budget is held back while the client does not read
 * (the daemon keeps about its budget, not the dump), reaches the client whole once it reads, and
 * stops being made when the client goes away.
 */
import * as net from 'net';
import { Connection, ConnectionStats } from '../../daemon/connection';
import { createAsciiHandler } from '../../daemon/handlers/ascii';
import { createBinaryHandler } from '../../daemon/handlers/binary';
import { Logger } from '../../daemon/log';
import { METADUMP_CHUNK_ITEMS } from '../../daemon/metadump';
import { makeContext } from '../helpers/handler-context';

const ITEMS = 150_000;
const BUDGET_BYTES = 256 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Harness {
  port: number;
  conns: Set<Connection>;
  chunksMade: () => number;
  stop(): Promise<void>;
}

async function start(): Promise<Harness> {
  const { ctx, local } = makeContext();
  for (let i = 0; i < ITEMS; i++) {
    local.store.apply({
      kind: 'put', key: Buffer.from(`slowreader:${i}`), value: Buffer.from('v'), flags: 0, exptimeSec: 0,
      cas: local.store.lastCas + 1n, storedAtSec: 0, stale: false, keyBinary: false,
    });
  }
  // Counts the chunks of the dump made so far.
  let made = 0;
  const metadump = ctx.metadump;
  ctx.metadump = (classes, pause) => metadump(classes, pause).map((chunk) => chunk.then((bytes) => {
    if (bytes.length > 0) made++;
    return bytes;
  }));
  const stats: ConnectionStats = { bytesRead: 0, bytesWritten: 0 };
  const conns = new Set<Connection>();
  const log = new Logger(0, () => undefined);
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    conns.add(new Connection(socket, {
      ascii: createAsciiHandler, binary: createBinaryHandler, ctx, log, stats,
      maxPendingWriteBytes: BUDGET_BYTES, onClose: (c) => conns.delete(c),
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    chunksMade: () => made,
    stop: () => new Promise<void>((resolve) => {
      for (const c of conns) c.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Waits (bounded) until the dump stops making chunks for 300 ms; returns how many it made. */
async function untilStalled(h: Harness): Promise<number> {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const now = h.chunksMade();
    if (now === last) return now;
    last = now;
    await sleep(300);
  }
  throw new Error(`metadump never stalled (${last} chunks made)`);
}

let h: Harness;
beforeEach(async () => { h = await start(); });
afterEach(async () => { await h.stop(); });

it('holds back a large dump while the client does not read, then sends it whole', async () => {
  const totalChunks = Math.ceil(ITEMS / METADUMP_CHUNK_ITEMS);
  const client = net.connect(h.port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const received: Buffer[] = [];
  client.on('data', (b) => received.push(b));
  client.pause();
  client.write('lru_crawler metadump all\r\n');
  const madeWhileNotReading = await untilStalled(h);
  const [conn] = [...h.conns];
  // About 10 MB of dump: the daemon holds its budget and a chunk, not the rest (the kernel's
  // socket buffers hold some more, which is why some chunks beyond the budget were made).
  expect(madeWhileNotReading).toBeLessThan(totalChunks);
  expect(conn.backlog.unsentBytes).toBeLessThanOrEqual(BUDGET_BYTES + 200 * METADUMP_CHUNK_ITEMS);

  client.resume();
  const text = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no END within 20 s')), 20_000);
    const check = (): void => {
      const tail = Buffer.concat(received.slice(-2)).toString('latin1');
      if (tail.endsWith('END\r\n')) { clearTimeout(timer); resolve(Buffer.concat(received).toString('latin1')); }
    };
    client.on('data', check);
    check();
  });
  client.destroy();
  const lines = text.split('\n').filter((l) => l.startsWith('key='));
  expect(lines.length).toBe(ITEMS);
  expect(new Set(lines.map((l) => l.split(' ')[0])).size).toBe(ITEMS);
  expect(h.chunksMade()).toBe(totalChunks);
}, 60_000);

it('stops making the dump when the client goes away without reading it', async () => {
  const client = net.connect(h.port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.pause();
  client.write('lru_crawler metadump all\r\n');
  const made = await untilStalled(h);
  client.destroy();
  await sleep(300);
  expect(h.conns.size).toBe(0);
  expect(await untilStalled(h)).toBe(made);
  expect(made).toBeLessThan(Math.ceil(ITEMS / METADUMP_CHUNK_ITEMS));
}, 60_000);
