/**
 * Expiry on a replicated follower: a read judges it by the follower's clock, but the item is taken
 * out only once the log's decisions reached its expiry. Otherwise a touch the leader decided while
 * the item lived, applied on a follower whose clock had passed the old expiry (a lagging follower, a
 * second boundary), found the item gone and the replicas no longer agreed.
 */
import { ExpiryCrawler, defaultCrawlerSettings } from './crawler';
import { ReplicatedEngine, WriteForwarder } from './replicated-engine';
import type { StoreOp } from './types';
import { ScriptedLog } from '../../tests/helpers/scripted-log';

const settle = () => new Promise((r) => setImmediate(r));
const noForwarding: WriteForwarder = { forward: () => Promise.reject(new Error('no forwarding in this test')) };
const T0 = 1_700_000_000;

/** A leader and a follower with clocks of their own; `ship` applies leader entries on the follower, in order. */
function pair() {
  const leaderClock = { sec: T0 };
  const followerClock = { sec: T0 };
  const leader = node('leader', leaderClock);
  const follower = node('follower', followerClock);
  let index = 1;
  const ship = (entries: Buffer[]) => { for (const e of entries) follower.engine.applyEntry(index++, e); };
  return { leaderClock, followerClock, leader, follower, ship };
}

function node(role: 'leader' | 'follower', clock: { sec: number }): { engine: ReplicatedEngine; log: ScriptedLog } {
  const engine = new ReplicatedEngine({ selfId: role === 'leader' ? 1 : 2, memoryLimitBytes: 1 << 20, itemSizeMaxBytes: 1024, leaderWaitMs: 10_000, clockSec: () => clock.sec });
  const log = new ScriptedLog(() => engine);
  log.role = role;
  engine.attach(log, noForwarding);
  return { engine, log };
}

/** Commits the leader's proposals; returns their payloads in log order, for the follower. */
async function commitAll(log: ScriptedLog): Promise<Buffer[]> {
  const from = log.proposed.length - log.outstanding;
  await settle();
  while (log.outstanding > 0) {
    log.commitOldest();
    await settle();
  }
  return log.proposed.slice(from);
}

const set = (key: string, exptime: number): StoreOp => ({ op: 'store', mode: 'set', key: Buffer.from(key), value: Buffer.from('v'), flags: 0, exptime });

it('a lagging follower keeps an item it reads as expired until the touch that saved it arrives', async () => {
  const { leaderClock, followerClock, leader, follower, ship } = pair();

  const stored = leader.engine.mutate(set('session', 10)); // expires at T0 + 10
  ship(await commitAll(leader.log));
  expect((await stored).status).toBe('STORED');

  // At T0 + 9 the leader touches it (alive): it now lives until T0 + 9 + 100.
  leaderClock.sec = T0 + 9;
  const touched = leader.engine.mutate({ op: 'touch', key: Buffer.from('session'), exptime: 100 });
  const touchEntries = await commitAll(leader.log);
  expect((await touched).status).toBe('TOUCHED');

  // The follower is behind: its clock passed T0 + 10 before the touch reached it. A read there says
  // missing (stale, as a follower's reads may be), and its crawler passes over the item.
  followerClock.sec = T0 + 11;
  expect(follower.engine.get(Buffer.from('session'))).toBeUndefined();
  // Steps run on the next turns; the automatic passes (waits of seconds) are left out.
  const crawler = new ExpiryCrawler(follower.engine.store, defaultCrawlerSettings(), {
    after: (ms, fn) => {
      if (ms < 1) setImmediate(fn);
      return { cancel: () => undefined };
    },
    nowSec: () => followerClock.sec,
    clockMs: () => followerClock.sec * 1000,
  });
  crawler.crawl();
  for (let i = 0; i < 10 && crawler.stats().running; i++) await settle();
  expect(crawler.stats()).toMatchObject({ running: false, itemsChecked: 1, reclaimed: 0 });

  ship(touchEntries);
  expect(follower.engine.get(Buffer.from('session'))?.exptimeSec).toBe(T0 + 109);
  expect(leader.engine.get(Buffer.from('session'))?.exptimeSec).toBe(T0 + 109);
});

it('the follower takes a dead item out once the log has passed its expiry', async () => {
  const { leaderClock, followerClock, leader, follower, ship } = pair();
  leader.engine.mutate(set('short', 5));
  ship(await commitAll(leader.log));
  followerClock.sec = T0 + 6;
  expect(follower.engine.get(Buffer.from('short'))).toBeUndefined();
  expect(follower.engine.store.stats().currItems).toBe(1); // kept: no decision after T0 + 5 applied yet
  leaderClock.sec = T0 + 6;
  leader.engine.mutate(set('later', 0));
  ship(await commitAll(leader.log));
  expect(follower.engine.get(Buffer.from('short'))).toBeUndefined();
  expect(follower.engine.store.stats().currItems).toBe(1); // 'short' taken out, 'later' stored
  // The leader, deciding, takes dead items out by its own clock.
  leaderClock.sec = T0 + 7;
  leader.engine.mutate(set('x', 1));
  await commitAll(leader.log);
  leaderClock.sec = T0 + 9;
  expect(leader.engine.get(Buffer.from('x'))).toBeUndefined();
  expect(leader.engine.store.peek(Buffer.from('x'))).toBe('missing');
});
