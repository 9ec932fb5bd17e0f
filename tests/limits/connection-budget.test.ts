/**
 * The connection's reply budget, in process: the real Connection and ASCII handler over an engine
 * whose writes settle only when the test opens a gate (as replicated writes settle after commit).
 * A client pipelining far more writes than the budget allows gets no more than the budget (plus
 * one slice) executed while they are pending; the rest waits unread in the kernel; once writes
 * settle, reading resumes, and every reply arrives, in order.
 */
import * as crypto from 'crypto';
import * as net from 'net';
import type { LocalEngine } from '../../daemon/cache/engine';
import type { CacheEngine, WriteOp, WriteResultFor } from '../../daemon/cache/types';
import { Connection, ConnectionStats, SLICE_COMMANDS } from '../../daemon/connection';
import { createAsciiHandler } from '../../daemon/handlers/ascii';
import { Logger } from '../../daemon/log';
import { makeContext } from '../helpers/handler-context';
import { sleep, SlowReader } from './support';

const MAX_PENDING_REPLIES = 8;
const WRITES = 20_000; // ~600 KB: more than one read, so the paused socket shows

/** Writes wait at a gate; `open()` lets every waiting write through, now and until `close()`. */
class GatedEngine implements CacheEngine {
  private waiting: Array<() => void> = [];
  private opened = false;
  started = 0;

  constructor(private readonly local: LocalEngine) {}

  get(key: Buffer, bump?: boolean) {
    return this.local.get(key, bump);
  }

  peek(key: Buffer) {
    return this.local.peek(key);
  }

  maxValueBytes(keyBytes: number, flags: number): number {
    return this.local.maxValueBytes(keyBytes, flags);
  }

  setMemoryLimit(bytes: number): void {
    this.local.setMemoryLimit(bytes);
  }

  mutate<O extends WriteOp>(op: O): Promise<WriteResultFor<O>> {
    this.started++;
    return new Promise((resolve) => {
      const run = () => resolve(this.local.mutate(op) as WriteResultFor<O>);
      if (this.opened) setImmediate(run);
      else this.waiting.push(run);
    });
  }

  open(): void {
    this.opened = true;
    for (const run of this.waiting.splice(0)) run();
  }
}

test('pending writes past the budget stop the reading; settling resumes it; every reply arrives in order', async () => {
  let gated: GatedEngine | undefined;
  const { ctx } = makeContext((local) => (gated = new GatedEngine(local)));
  const stats: ConnectionStats = { bytesRead: 0, bytesWritten: 0 };
  const conns: Connection[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    conns.push(new Connection(socket, {
      ascii: createAsciiHandler, binary: createAsciiHandler, ctx, log: new Logger(0, () => undefined), stats,
      maxPendingWriteBytes: 1024 * 1024, maxPendingReplies: MAX_PENDING_REPLIES, onClose: () => undefined,
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = await SlowReader.connect((server.address() as net.AddressInfo).port);
  try {
    // Each set is followed by a get of its key: a reply out of order would show in the bytes.
    const request = Array.from({ length: WRITES }, (_, i) => `set key-${i} 0 0 ${String(i).length}\r\n${i}\r\nget key-${i}\r\n`).join('');
    client.send(Buffer.from(request));
    await sleep(300);
    // Only the first write ran (the others queue behind it, as a connection's commands run in
    // order), and input stopped once the queued replies reached the budget: at most one slice more.
    expect(gated!.started).toBe(1);
    const backlog = conns[0].backlog;
    expect(backlog.pendingReplies).toBeGreaterThanOrEqual(MAX_PENDING_REPLIES);
    expect(backlog.pendingReplies).toBeLessThan(MAX_PENDING_REPLIES + SLICE_COMMANDS);
    expect(backlog.heldInputBytes).toBeGreaterThan(0);
    expect(stats.bytesRead).toBeLessThan(request.length / 2);

    gated!.open();
    const expected = Array.from({ length: WRITES }, (_, i) => `STORED\r\nVALUE key-${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`).join('');
    expect(await client.readAtLeast(expected.length, 20_000)).toBe(expected.length);
    expect(client.digest()).toBe(crypto.createHash('sha256').update(expected).digest('hex'));
    expect(stats.bytesRead).toBe(request.length);
    expect(gated!.started).toBe(WRITES);
    expect(conns[0].backlog).toEqual({ unsentBytes: 0, pendingReplies: 0, pendingInputBytes: 0, heldInputBytes: 0 });
    expect(ctx.engine.get(Buffer.from(`key-${WRITES - 1}`))?.value.toString()).toBe(String(WRITES - 1));
  } finally {
    client.destroy();
    for (const c of conns) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
