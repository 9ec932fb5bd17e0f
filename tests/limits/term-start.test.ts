/**
 * A new leader decides nothing until it has applied everything before its term (ReplicatedEngine
 * against a scripted replication log). When the adopted tail ends in slots without an entry for the
 * cache (a no-op filler, the first part of an entry whose other parts never reached a majority), the
 * engine must still learn that the pump passed them: otherwise every write waits for an entry only
 * a write could bring, and the whole cluster refuses writes until the next leader change (seen in
 * chaos runs with values larger than a log slot).
 */
import { ReplicatedEngine } from '../../daemon/cache/replicated-engine';
import type { StoreOp } from '../../daemon/cache/types';
import { ScriptedLog } from '../helpers/scripted-log';

const settle = () => new Promise((r) => setImmediate(r));
/** Turns of the event loop until `cond` holds (bounded: 200 turns). */
async function turnsUntil(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !cond(); i++) await settle();
  return cond();
}
const set = (key: string): StoreOp => ({ op: 'store', mode: 'set', key: Buffer.from(key), value: Buffer.from(`v-${key}`), flags: 0, exptime: 0 });

test('a new leader whose adopted tail ends in slots without an entry takes writes once its pump passed them', async () => {
  const engine = new ReplicatedEngine({ selfId: 1, memoryLimitBytes: 64 * 1024 * 1024, itemSizeMaxBytes: 1024 * 1024, leaderWaitMs: 10_000 });
  const log = new ScriptedLog(() => engine);
  engine.attach(log, { forward: () => Promise.reject(new Error('no forwarding in this test')) });
  // Adopted: index 1 is an abandoned first part, index 2 the no-op after it; the term starts there.
  log.termStartIndex = 2;
  const write = engine.execute(set('k'), Date.now() + 10_000);
  await settle();
  expect(log.proposed).toHaveLength(0); // waits: the predecessor's entries are not applied yet
  log.passIndex();
  await settle();
  expect(log.proposed).toHaveLength(0);
  log.passIndex();
  // The pump passed the term start: the write is decided.
  expect(await turnsUntil(() => log.proposed.length === 1)).toBe(true);
  log.commitOldest();
  expect((await write).result).toMatchObject({ status: 'STORED' });
  expect(engine.get(Buffer.from('k'))?.value.toString()).toBe('v-k');
});
