/**
 * A write's deadline (ReplicatedEngine, in process against a scripted replication log; the peer
 * link's request timeout against a real listener): it is set once, where the client's write
 * arrives, survives every retry and forward, and past it nothing of the write is proposed, so a
 * write a client gave up on cannot take effect long after.
 */
import { PeerDialer, PeerLinkError, PeerListener } from '../../daemon/cluster/peer-link';
import { decodeEffects } from '../../daemon/cache/effect-codec';
import { NoLeaderError, OutcomeUnknownError, ReplicatedEngine, WriteDeadlineError, WriteForwarder } from '../../daemon/cache/replicated-engine';
import type { StoreOp, WriteOp } from '../../daemon/cache/types';
import { ScriptedLog } from '../helpers/scripted-log';

const WAIT_MS = 10_000;

function setup(limits: { leaderWaitMs?: number; maxInFlightProposals?: number } = {}) {
  const forwarded: Array<{ op: WriteOp; deadlineMs: number }> = [];
  const engine = new ReplicatedEngine({
    selfId: 1, memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: 1024 * 1024,
    leaderWaitMs: limits.leaderWaitMs ?? WAIT_MS, maxInFlightProposals: limits.maxInFlightProposals,
  });
  const log = new ScriptedLog(() => engine);
  const forwarder: WriteForwarder = {
    forward: (_leader, op, deadlineMs) => {
      forwarded.push({ op, deadlineMs });
      return Promise.resolve({ result: { status: 'STORED' }, index: 0 });
    },
  };
  engine.attach(log, forwarder);
  return { engine, log, forwarded };
}

const store = (mode: 'set' | 'add', key: string): StoreOp => ({
  op: 'store', mode, key: Buffer.from(key), value: Buffer.from(`v-${key}`), flags: 0, exptime: 0,
});
const settle = () => new Promise((r) => setImmediate(r));

/** Runs `start` and returns the range its deadline must fall in (arrival time + leaderWaitMs). */
function bracket<T>(start: () => T): { value: T; min: number; max: number } {
  const before = Date.now();
  const value = start();
  return { value, min: before + WAIT_MS, max: Date.now() + WAIT_MS };
}

test('a forwarded write that reaches the leader after its deadline is refused and nothing of it is proposed', async () => {
  const { engine, log } = setup();
  await expect(engine.execute(store('set', 'late'), Date.now() - 1)).rejects.toThrow(/not applied within its .* deadline/);
  await expect(engine.execute(store('set', 'late'), Date.now() - 1)).rejects.toBeInstanceOf(WriteDeadlineError);
  expect(log.proposed).toHaveLength(0);
  expect(engine.get(Buffer.from('late'))).toBeUndefined();
  // The same write in time goes through.
  const onTime = engine.execute(store('set', 'late'), Date.now() + 1000);
  await settle();
  log.commitOldest();
  expect((await onTime).result).toMatchObject({ status: 'STORED' });
  expect(engine.get(Buffer.from('late'))?.value.toString()).toBe('v-late');
});

test('a write waiting for room keeps its arrival deadline when leadership moves and it is forwarded', async () => {
  const { engine, log, forwarded } = setup({ maxInFlightProposals: 1 });
  const first = engine.mutate(store('set', 'first'));
  await settle(); // its own entry: the next write finds the backlog full
  const waiting = bracket(() => engine.mutate(store('set', 'waiting')));
  await settle();
  expect(engine.backlog.waiting).toBe(1);
  await new Promise((r) => setTimeout(r, 20));
  log.loseLeadership(2);
  expect((await waiting.value).status).toBe('STORED');
  const writes = () => forwarded.filter((f) => f.op.op !== 'fence');
  expect(writes()).toHaveLength(1);
  expect(writes()[0].deadlineMs).toBeGreaterThanOrEqual(waiting.min);
  expect(writes()[0].deadlineMs).toBeLessThanOrEqual(waiting.max);
  // The first write's entry was in flight: once another entry is decided at its index, it is
  // decided again, under its own deadline.
  log.deliverLost(false);
  expect((await first).status).toBe('STORED');
  expect(writes()).toHaveLength(2);
  expect(writes()[1].deadlineMs).toBeLessThanOrEqual(waiting.min);
});

test('a write whose entry was in flight when the lead was lost, and stays undecided, is "outcome unknown" at its deadline', async () => {
  const { engine, log, forwarded } = setup({ leaderWaitMs: 300 });
  const write = engine.mutate(store('set', 'limbo'));
  await settle();
  log.loseLeadership(2);
  const err = await write.catch((e: Error) => e);
  expect(err).toBeInstanceOf(OutcomeUnknownError);
  expect((err as Error).message).toMatch(/lost the lead with it in flight, and its entry was still undecided\); outcome unknown$/);
  expect(engine.lostWriteCounts).toEqual({ applied: 0, decidedAgain: 0, unknown: 1 });
  // Meanwhile it asked the new leader for fences, to move the log past the entry.
  expect(forwarded.filter((f) => f.op.op === 'fence').length).toBeGreaterThan(0);
  expect(forwarded.filter((f) => f.op.op !== 'fence')).toHaveLength(0);
});

test('a no-change verdict whose proof entry fails is decided again under the same deadline', async () => {
  const { engine, log, forwarded } = setup();
  const seed = engine.mutate(store('set', 'k'));
  await settle();
  log.commitOldest();
  await seed;
  // add on an existing key changes nothing: its NOT_STORED waits for an empty entry to commit.
  const add = bracket(() => engine.mutate(store('add', 'k')));
  await settle();
  expect(decodeEffects(log.proposed[log.proposed.length - 1])).toEqual([]);
  await new Promise((r) => setTimeout(r, 20));
  log.loseLeadership(3);
  expect((await add.value).status).toBe('STORED'); // what the scripted new leader answered
  expect(forwarded.map((f) => f.op.op)).toEqual(['store']);
  expect(forwarded[0].deadlineMs).toBeGreaterThanOrEqual(add.min);
  expect(forwarded[0].deadlineMs).toBeLessThanOrEqual(add.max);
});

test('a follower that finds no leader fails at the deadline with a clear error and forwards nothing', async () => {
  const { engine, log, forwarded } = setup({ leaderWaitMs: 50 });
  log.role = 'candidate';
  log.leaderId = null;
  const err = await engine.mutate(store('set', 'orphan')).catch((e: Error) => e);
  expect(err).toBeInstanceOf(NoLeaderError);
  expect((err as Error).message).toMatch(/no leader elected within 50 ms; write not applied/);
  expect(forwarded).toHaveLength(0);
});

describe('peer link request timeout', () => {
  const SECRET = 'write-deadline-secret';
  const cleanups: Array<() => void> = [];
  afterEach(() => { for (const c of cleanups.splice(0)) c(); });

  test('an unanswered request fails at its timeout saying the outcome is unknown; its late answer is dropped', async () => {
    const releases: Array<() => void> = [];
    const listener = new PeerListener(SECRET, new Set([1, 2]), async (_from, req) => {
      if (req.slow === true) await new Promise<void>((resolve) => releases.push(resolve));
      return { echo: req.n };
    }, { info: () => undefined }, { selfId: 1, cluster: 'deadline-test' });
    cleanups.push(() => listener.close());
    const port = await listener.listen('127.0.0.1', 0);
    const dialer = new PeerDialer(2, SECRET, '127.0.0.1', port, 2000, { peerId: 1, cluster: 'deadline-test' });
    cleanups.push(() => dialer.close());

    const err = await dialer.request({ t: 'op', n: 1, slow: true }, 100).catch((e: Error) => e);
    expect(err).toBeInstanceOf(PeerLinkError);
    expect((err as PeerLinkError).message).toMatch(/within 100 ms; outcome unknown/);
    // It may have reached the peer: the caller must not re-send it.
    expect((err as PeerLinkError).retryable).toBe(false);
    expect((err as PeerLinkError).delivered).toBe(true);
    // The late answer arrives on the same link and must not be taken for the next request's.
    releases.splice(0).forEach((release) => release());
    const next = await dialer.request({ t: 'op', n: 2 }, 5000);
    expect(next.echo).toBe(2);
  });
});
