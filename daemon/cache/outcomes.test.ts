/**
 * Exactly-once forwarded writes (outcomes.ts) in the replicated engine, against scripted logs:
 * a tagged write sent again (its first try's fate unknown to the sender) is never applied twice,
 * and gets the first try's answer, from the node that ran it or from a later leader.
 */
import { ReplicatedEngine, WriteForwarder } from './replicated-engine';
import type { ArithOp, StoreOp } from './types';
import { decodeResult, encodeResult, OutcomeTable, WriteTag } from './outcomes';
import { ScriptedLog } from '../../tests/helpers/scripted-log';

const settle = () => new Promise((r) => setImmediate(r));
const noForwarding: WriteForwarder = { forward: () => Promise.reject(new Error('no forwarding in this test')) };

function leaderEngine(selfId = 1): { engine: ReplicatedEngine; log: ScriptedLog } {
  const engine = new ReplicatedEngine({ selfId, memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: 1024 * 1024, leaderWaitMs: 10_000 });
  const log = new ScriptedLog(() => engine);
  engine.attach(log, noForwarding);
  return { engine, log };
}

/** Node 2 following node 1, its forwards going to `forward`. */
function followerEngine(leaderWaitMs: number, forward: WriteForwarder['forward']): { engine: ReplicatedEngine; log: ScriptedLog } {
  const engine = new ReplicatedEngine({ selfId: 2, memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: 1024 * 1024, leaderWaitMs });
  const log = new ScriptedLog(() => engine);
  log.role = 'follower';
  log.leaderId = 1;
  engine.attach(log, { forward });
  return { engine, log };
}

const setOp = (key: string, value: string): StoreOp => ({ op: 'store', mode: 'set', key: Buffer.from(key), value: Buffer.from(value), flags: 0, exptime: 0 });
const incr = (key: string): ArithOp => ({ op: 'arith', incr: true, key: Buffer.from(key), delta: 1n });
const valueOf = (engine: ReplicatedEngine, key: string) => engine.get(Buffer.from(key))?.value.toString();
const deadline = () => Date.now() + 10_000;

async function committed<T>(log: ScriptedLog, p: Promise<T>): Promise<T> {
  await settle();
  log.commitOldest();
  return p;
}

test('a forwarded incr sent again, while in flight and after it committed, is applied once and answered as the first try', async () => {
  const { engine, log } = leaderEngine();
  await committed(log, engine.execute(setOp('n', '5')));
  const tag: WriteTag = { origin: 2, session: 77, seq: 1 };
  const first = engine.execute(incr('n'), deadline(), tag);
  await settle();
  const whileInFlight = engine.execute(incr('n'), deadline(), tag);
  await settle();
  expect(log.outstanding).toBe(1); // the retry joined the first try
  log.commitOldest();
  const [a, b] = await Promise.all([first, whileInFlight]);
  expect(a.result).toMatchObject({ status: 'OK', value: 6n });
  expect(b).toEqual(a);
  const late = await engine.execute(incr('n'), deadline(), tag);
  expect(late).toEqual(a);
  expect(log.outstanding).toBe(0);
  expect(valueOf(engine, 'n')).toBe('6');
  // Another tag is another write.
  const next = await committed(log, engine.execute(incr('n'), deadline(), { ...tag, seq: 2 }));
  expect(next.result).toMatchObject({ value: 7n });
});

test('copies of one forwarded write that reached a node before it led are decided once when it leads', async () => {
  // Seen in a chaos run: a follower relayed the first try to this node while it was standing, and
  // the sender's own retry came here too; both waited for a leader, and both were decided.
  const { engine, log } = leaderEngine(1);
  await committed(log, engine.execute(setOp('n', '5')));
  log.role = 'candidate';
  log.leaderId = null;
  const tag: WriteTag = { origin: 3, session: 11, seq: 4 };
  const relayed = engine.execute(incr('n'), deadline(), tag);
  const retried = engine.execute(incr('n'), deadline(), tag);
  await new Promise((r) => setTimeout(r, 10));
  expect(log.outstanding).toBe(0);
  log.role = 'leader';
  log.leaderId = 1;
  await new Promise((r) => setTimeout(r, 20));
  expect(log.outstanding).toBe(1);
  log.commitOldest();
  const [a, b] = await Promise.all([relayed, retried]);
  expect(a.result).toMatchObject({ status: 'OK', value: 6n });
  expect(b).toEqual(a);
  expect(valueOf(engine, 'n')).toBe('6');
});

test('the next leader answers a retry from the entries it applied, only once it applied everything before its term', async () => {
  const old = leaderEngine(1);
  await committed(old.log, old.engine.execute(setOp('n', '5')));
  const tag: WriteTag = { origin: 3, session: 9, seq: 40 };
  const answered = await committed(old.log, old.engine.execute(incr('n'), deadline(), tag));
  const [setEntry, incrEntry] = old.log.proposed;

  // Node 2 followed and applied index 1; the incr's entry (index 2) is adopted by its prepare, and
  // its term starts after it.
  const next = leaderEngine(2);
  next.engine.applyEntry(1, setEntry);
  next.log.termStartIndex = 3;
  const retry = next.engine.execute(incr('n'), deadline(), tag);
  await settle();
  expect(next.log.proposed).toHaveLength(0); // not decided before the adopted entries are applied
  next.engine.applyEntry(2, incrEntry);
  next.engine.passedIndex(3);
  expect(await retry).toEqual(answered);
  expect(next.log.proposed).toHaveLength(0);
  expect(valueOf(next.engine, 'n')).toBe('6');
});

test('a retry of a write that never reached the log is decided afresh by the next leader', async () => {
  const next = leaderEngine(2);
  const tag: WriteTag = { origin: 3, session: 9, seq: 41 };
  await committed(next.log, next.engine.execute(setOp('n', '1')));
  const r = await committed(next.log, next.engine.execute(incr('n'), deadline(), tag));
  expect(r.result).toMatchObject({ value: 2n });
});

test('a follower sends a write whose fate is unknown again with the same tag; past its deadline it says the outcome is unknown', async () => {
  const tags: WriteTag[] = [];
  let answerOnTry = 3;
  const { engine } = followerEngine(300, (_leader, _op, _deadlineMs, tag) => {
    tags.push(tag);
    if (tags.length < answerOnTry) return Promise.reject(Object.assign(new Error('link dropped; outcome unknown'), { outcomeUnknown: true }));
    return Promise.resolve({ result: { status: 'STORED' }, index: 0 });
  });
  expect((await engine.execute(setOp('k', 'v'))).result).toEqual({ status: 'STORED' });
  expect(tags).toHaveLength(3);
  expect(new Set(tags.map((t) => `${t.origin}.${t.session}.${t.seq}`)).size).toBe(1);
  expect(tags[0].origin).toBe(2);

  // Each write has its own tag; one whose fate stays unknown fails saying so, not "not applied".
  tags.length = 0;
  answerOnTry = Infinity;
  await expect(engine.execute(setOp('k', 'w'))).rejects.toThrow(/outcome unknown/);
  expect(tags.length).toBeGreaterThan(1);
  expect(tags[0].seq).not.toBe(0);
});

test('the records travel in a snapshot: a node restored from one answers a retry of a write committed before it', async () => {
  const old = leaderEngine(1);
  await committed(old.log, old.engine.execute(setOp('n', '5')));
  const tag: WriteTag = { origin: 3, session: 5, seq: 9 };
  const answered = await committed(old.log, old.engine.execute(incr('n'), deadline(), tag));

  const restored = leaderEngine(2);
  restored.engine.local.applyAll([{ kind: 'put', key: Buffer.from('n'), value: Buffer.from('6'), flags: 0, exptimeSec: 0, cas: 2n, storedAtSec: 0, stale: false, keyBinary: false }]);
  restored.engine.outcomes.install(old.engine.outcomes.snapshot());
  restored.engine.installedUpTo(2);
  expect(await restored.engine.execute(incr('n'), deadline(), tag)).toEqual(answered);
  expect(restored.log.proposed).toHaveLength(0);
  expect(valueOf(restored.engine, 'n')).toBe('6');
});

test('results round-trip through their record: status forms in 2 or 10 bytes, anything else as tagged JSON', () => {
  const cases: unknown[] = [
    { status: 'STORED' }, { status: 'STORED', cas: 18446744073709551615n }, { status: 'DELETED' }, { status: 'NOT_FOUND' },
    { status: 'OK', value: 7n, cas: 3n, item: { key: Buffer.from([0, 255]), value: Buffer.from('7') } },
    { status: 'STORED', cas: 5n, extra: true },
  ];
  for (const c of cases) expect(decodeResult(encodeResult(c))).toEqual(c);
  expect(encodeResult({ status: 'STORED' })).toHaveLength(2);
  expect(encodeResult({ status: 'STORED', cas: 5n })).toHaveLength(10);
  expect(() => decodeResult(Buffer.from([1, 200]))).toThrow(/malformed outcome record/);
});

test('records are kept for the retention time, and at most maxRecords (oldest dropped first, with one warning)', () => {
  let now = 0;
  const warnings: string[] = [];
  const table = new OutcomeTable(1000, 3, () => now, (m) => warnings.push(m));
  const rec = (seq: number) => ({ tag: { origin: 2, session: 1, seq }, result: encodeResult({ status: 'STORED' }) });
  table.record([rec(1), rec(2)], 10);
  now = 600;
  table.record([rec(3)], 11);
  expect(table.lookup({ origin: 2, session: 1, seq: 1 })).toEqual({ result: { status: 'STORED' }, index: 10 });
  expect(table.lookup({ origin: 2, session: 2, seq: 1 })).toBeUndefined();
  now = 1100; // 1 and 2 are past retention
  table.record([], 12);
  expect(table.size).toBe(1);
  expect(table.lookup({ origin: 2, session: 1, seq: 2 })).toBeUndefined();
  table.record([rec(4), rec(5), rec(6)], 13);
  expect(table.size).toBe(3);
  expect(table.lookup({ origin: 2, session: 1, seq: 3 })).toBeUndefined();
  expect(warnings).toHaveLength(1);
  expect(table.snapshot().map((r) => r.tag.seq)).toEqual([4, 5, 6]);
});

test('a forward this node came to decide itself, whose term then ended, goes to the next leader with its tag', async () => {
  const sent: WriteTag[] = [];
  const { engine, log } = followerEngine(5000, (leader, _op, _deadlineMs, tag) => {
    sent.push(tag);
    if (leader === 1) {
      // Leader 1 dies with it in hand; this node takes the lead before trying again.
      log.role = 'leader';
      log.leaderId = 2;
      return Promise.reject(Object.assign(new Error('link dropped'), { outcomeUnknown: true }));
    }
    return Promise.resolve({ result: { status: 'STORED' }, index: 0 });
  });
  const write = engine.execute(setOp('k', 'v'));
  for (let i = 0; i < 200 && log.outstanding === 0; i++) await new Promise((r) => setTimeout(r, 1));
  expect(log.outstanding).toBe(1); // decided here, as the new leader
  log.loseLeadership(3); // and its term ends with the entry in flight
  expect((await write).result).toEqual({ status: 'STORED' });
  expect(sent.map((t) => t.seq)).toEqual([sent[0].seq, sent[0].seq]);
  expect(engine.forwardCounts.resent).toBe(2);
});
