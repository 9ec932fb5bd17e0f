/**
 * The leader's pushback bound, in process against a scripted replication log: writes beyond
 * `maxInFlightProposals` / `maxInFlightBytes` wait undecided and in arrival order, are proposed as
 * earlier entries are applied, fail cleanly after leaderWaitMs, and are re-routed when leadership
 * moves while they wait.
 */
import { decodeEffects, decodeEntry } from '../../daemon/cache/effect-codec';
import { BacklogFullError, ReplicatedEngine, WriteForwarder } from '../../daemon/cache/replicated-engine';
import type { StoreOp, WriteOp } from '../../daemon/cache/types';
import { ScriptedLog } from '../helpers/scripted-log';

function setup(limits: { maxInFlightProposals?: number; maxInFlightBytes?: number; leaderWaitMs?: number }) {
  const forwarded: WriteOp[] = [];
  const engine = new ReplicatedEngine({
    selfId: 1, memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: 1024 * 1024,
    leaderWaitMs: limits.leaderWaitMs ?? 10_000, maxInFlightProposals: limits.maxInFlightProposals, maxInFlightBytes: limits.maxInFlightBytes,
  });
  const log = new ScriptedLog(() => engine);
  const forwarder: WriteForwarder = {
    forward: (_leader, op) => {
      forwarded.push(op);
      return Promise.resolve({ result: { status: 'STORED' }, index: 0 });
    },
  };
  engine.attach(log, forwarder);
  return { engine, log, forwarded };
}

const set = (key: string, valueBytes = 8): StoreOp => ({
  op: 'store', mode: 'set', key: Buffer.from(key), value: Buffer.alloc(valueBytes, key.charCodeAt(key.length - 1)), flags: 0, exptime: 0,
});

const keysOf = (payloads: Buffer[]) => payloads.map((p) => decodeEffects(p).map((e) => ('key' in e ? e.key.toString() : e.kind)).join(','));
const settle = () => new Promise((r) => setImmediate(r));

/** Writes issued in separate turns of the event loop, so each is its own entry (no group commit). */
async function oneByOne<T>(items: string[], write: (item: string) => Promise<T>): Promise<Array<Promise<T>>> {
  const out: Array<Promise<T>> = [];
  for (const item of items) {
    const p = write(item);
    p.catch(() => undefined); // observed by the test later
    out.push(p);
    await settle();
  }
  return out;
}

test('at most maxInFlightProposals are proposed; the rest wait and are proposed in arrival order', async () => {
  const { engine, log } = setup({ maxInFlightProposals: 4 });
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
  const results = await oneByOne(keys, (k) => engine.mutate(set(k)));
  expect(log.outstanding).toBe(4);
  expect(engine.backlog).toMatchObject({ inFlight: 4, waiting: 16 });
  for (let i = 0; i < 20 && log.outstanding > 0; i++) {
    log.commitOldest();
    await settle();
    expect(log.outstanding).toBeLessThanOrEqual(4);
  }
  expect(log.maxOutstanding).toBe(4);
  // Each of the first four came in its own turn; the waiting ones are admitted together as room
  // appears, so they share entries (group commit), still in arrival order.
  expect(keysOf(log.proposed).slice(0, 4)).toEqual(keys.slice(0, 4));
  expect(keysOf(log.proposed).join(',')).toBe(keys.join(','));
  expect((await Promise.all(results)).map((r) => r.status)).toEqual(keys.map(() => 'STORED'));
  for (const k of keys) expect(engine.get(Buffer.from(k))?.value.length).toBe(8);
  expect(engine.idle).toBe(true);
});

test('the byte bound admits one proposal whatever its size, and stops once the bytes reach it', async () => {
  const { engine, log } = setup({ maxInFlightBytes: 100 * 1024 });
  const results = await oneByOne(['a', 'b', 'c', 'd', 'e'], (k) => engine.mutate(set(k, 40 * 1024)));
  expect(log.outstanding).toBe(3); // 40k and 80k are under 100k; at 120k the rest waits
  while (log.outstanding > 0) {
    log.commitOldest();
    await settle();
  }
  expect(log.maxOutstanding).toBe(3);
  expect((await Promise.all(results)).every((r) => r.status === 'STORED')).toBe(true);

  const big = setup({ maxInFlightBytes: 1024 });
  const one = big.engine.mutate(set('huge', 512 * 1024));
  await settle();
  expect(big.log.outstanding).toBe(1);
  big.log.commitOldest();
  expect((await one).status).toBe('STORED');
});

test('a write that finds no room within leaderWaitMs fails undecided; nothing of it is proposed', async () => {
  const { engine, log } = setup({ maxInFlightProposals: 1, leaderWaitMs: 60 });
  const [first, second] = await oneByOne(['first', 'second'], (k) => engine.mutate(set(k)));
  await expect(second).rejects.toBeInstanceOf(BacklogFullError);
  expect(keysOf(log.proposed)).toEqual(['first']);
  log.commitOldest();
  expect((await first).status).toBe('STORED');
  expect(engine.get(Buffer.from('second'))).toBeUndefined();
  // Room again: the next write goes straight through.
  const third = engine.mutate(set('third'));
  await settle();
  log.commitOldest();
  expect((await third).status).toBe('STORED');
});

test('writes waiting for room when leadership moves are forwarded to the new leader, in order', async () => {
  const { engine, log, forwarded } = setup({ maxInFlightProposals: 2 });
  const results = await oneByOne(['p1', 'p2', 'w1', 'w2', 'w3'], (k) => engine.mutate(set(k)));
  expect(engine.backlog.waiting).toBe(3);
  log.loseLeadership(2);
  const rest = await Promise.all(results.slice(2));
  expect(rest.map((r) => r.status)).toEqual(['STORED', 'STORED', 'STORED']);
  const writes = () => forwarded.filter((op) => op.op !== 'fence').map((op) => ('key' in op ? op.key.toString() : op.op));
  expect(writes()).toEqual(['w1', 'w2', 'w3']);
  expect(engine.backlog).toEqual({ inFlight: 0, inFlightBytes: 0, waiting: 0 });
  // p1 and p2 were in flight: their answers wait for what the log decides at their indices.
  log.deliverLost(true); // the next leader adopted p1's entry: p1 took effect
  log.deliverLost(false); // another entry at p2's index: p2 never will, so it is decided again
  expect((await results[0]).status).toBe('STORED');
  expect((await results[1]).status).toBe('STORED');
  expect(engine.get(Buffer.from('p1'))?.value.toString()).toBe('11111111');
  expect(engine.get(Buffer.from('p2'))).toBeUndefined(); // here only once the new leader's entry comes
  expect(writes()).toEqual(['w1', 'w2', 'w3', 'p2']);
  expect(engine.lostWriteCounts).toEqual({ applied: 1, decidedAgain: 1, unknown: 0 });
});

test('writes decided in one turn of the event loop are proposed as one entry and settle together', async () => {
  const { engine, log } = setup({});
  const keys = Array.from({ length: 12 }, (_, i) => `g${i}`);
  const results = keys.map((k) => engine.mutate(set(k)));
  await settle();
  expect(log.outstanding).toBe(1);
  expect(keysOf(log.proposed)).toEqual([keys.join(',')]);
  // A later turn opens a new entry, and a decision in it sees the first group's effects.
  const add = engine.mutate({ ...set('g0'), mode: 'add' });
  await settle();
  expect(log.outstanding).toBe(2);
  log.commitOldest();
  expect((await Promise.all(results)).map((r) => r.status)).toEqual(keys.map(() => 'STORED'));
  log.commitOldest();
  expect((await add).status).toBe('NOT_STORED');
  for (const k of keys) expect(engine.get(Buffer.from(k))?.value.length).toBe(8);
  expect(engine.idle).toBe(true);
});

test('a group stops growing at the slot payload limit; the rest goes into the next entry', async () => {
  const { engine, log } = setup({});
  // 4 MiB payload limit (ScriptedLog): five 900 KiB values cannot share one entry.
  const keys = ['a', 'b', 'c', 'd', 'e'];
  const results = keys.map((k) => engine.mutate(set(k, 900 * 1024)));
  await settle();
  expect(keysOf(log.proposed)).toEqual(['a,b,c,d', 'e']);
  log.commitOldest();
  log.commitOldest();
  expect((await Promise.all(results)).map((r) => r.status)).toEqual(keys.map(() => 'STORED'));
});

test('a fence sent to the leader commits an entry that changes nothing but records its answer', async () => {
  const { engine, log } = setup({});
  const tag = { origin: 2, session: 9, seq: 1 };
  const fence = engine.execute({ op: 'fence' }, Date.now() + 10_000, tag);
  await settle();
  expect(log.outstanding).toBe(1);
  log.commitOldest();
  const answer = await fence;
  expect(answer.result).toEqual({ status: 'OK' });
  expect(answer.index).toBe(1);
  expect(decodeEntry(log.proposed[0]).effects).toEqual([]);
  expect(engine.outcomes.lookup(tag)).toEqual({ result: { status: 'OK' }, index: 1 });
});
