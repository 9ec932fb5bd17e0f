/**
 * -M on a replicated leader: it decides against committed state plus the writes still in flight, so
 * memory that in-flight puts will take is already spoken for, and memory that in-flight deletes
 * will free is already available. Nothing applied is ever refused.
 */
import { ReplicatedEngine, WriteForwarder } from './replicated-engine';
import { itemBytes } from './store';
import type { StoreOp } from './types';
import { ScriptedLog } from '../../tests/helpers/scripted-log';

const KEY_BYTES = 4;
const ITEM_BYTES = itemBytes(KEY_BYTES, 0, 1);
const CAPACITY_ITEMS = 3;
const settle = () => new Promise((r) => setImmediate(r));
const noForwarding: WriteForwarder = { forward: () => Promise.reject(new Error('no forwarding in this test')) };
const setOp = (key: string): StoreOp => ({ op: 'store', mode: 'set', key: Buffer.from(key), value: Buffer.from('x'), flags: 0, exptime: 0 });

function leaderWithoutEvictions(): { engine: ReplicatedEngine; log: ScriptedLog } {
  const engine = new ReplicatedEngine({
    selfId: 1, memoryLimitBytes: CAPACITY_ITEMS * ITEM_BYTES, itemSizeMaxBytes: 1024, evictions: false, leaderWaitMs: 10_000,
  });
  const log = new ScriptedLog(() => engine);
  engine.attach(log, noForwarding);
  return { engine, log };
}

/** Commits every proposal, including the fences that answer writes without effects. */
async function commitAll(log: ScriptedLog): Promise<void> {
  await settle();
  while (log.outstanding > 0) {
    log.commitOldest();
    await settle();
  }
}

describe('-M on a replicated leader', () => {
  test('puts in flight count against the limit before they are applied', async () => {
    const { engine, log } = leaderWithoutEvictions();
    const stored = ['key1', 'key2', 'key3'].map((key) => engine.mutate(setOp(key)));
    await settle(); // proposed, none applied: the committed store is still empty
    expect(engine.store.stats().currItems).toBe(0);
    const refused = engine.mutate(setOp('key4'));
    await commitAll(log);
    expect((await Promise.all(stored)).map((r) => r.status)).toEqual(['STORED', 'STORED', 'STORED']);
    expect((await refused).status).toBe('NO_MEMORY');
    expect(engine.store.stats()).toMatchObject({ currItems: 3, evictions: 0 });
  });

  test('a delete in flight makes room for a put decided after it', async () => {
    const { engine, log } = leaderWithoutEvictions();
    const filled = ['key1', 'key2', 'key3'].map((key) => engine.mutate(setOp(key)));
    await commitAll(log);
    await Promise.all(filled);
    const deleted = engine.mutate({ op: 'delete', key: Buffer.from('key1') });
    const stored = engine.mutate(setOp('key4'));
    const refused = engine.mutate(setOp('key5'));
    await commitAll(log);
    expect([(await deleted).status, (await stored).status, (await refused).status]).toEqual(['DELETED', 'STORED', 'NO_MEMORY']);
    expect(engine.store.stats()).toMatchObject({ currItems: 3, evictions: 0 });
    expect(engine.get(Buffer.from('key4'))?.value.toString()).toBe('x');
  });
});
