/**
 * The expiry crawler over a real ItemStore, on hand-driven timers and clock: what it reclaims, what
 * it leaves, how a pass is cut into steps, and when the next automatic pass comes.
 */
import { CRAWL_STEP_ITEMS, CrawlerTimers, defaultCrawlerSettings, ExpiryCrawler, MAX_AUTO_WAIT_SEC, MIN_AUTO_WAIT_SEC } from './crawler';
import type { PutEffect } from './effects';
import { ItemStore } from './store';

/** Timers run only when the test says so; `nowSec` is the store's clock too. */
class ManualTimers implements CrawlerTimers {
  nowMs = 1_700_000_000_000;
  private queue: Array<{ atMs: number; fn: () => void; live: boolean }> = [];
  nowSec(): number {
    return Math.floor(this.nowMs / 1000);
  }
  clockMs(): number {
    return this.nowMs;
  }
  after(ms: number, fn: () => void): { cancel(): void } {
    // As the real timers: under a millisecond means the next turn of the event loop.
    const t = { atMs: this.nowMs + (ms >= 1 ? ms : 0), fn, live: true };
    this.queue.push(t);
    return { cancel: () => { t.live = false; } };
  }
  /** Run the timers due now, once each (those they schedule wait for the next call). */
  tick(): number {
    const due = this.queue.filter((t) => t.live && t.atMs <= this.nowMs);
    this.queue = this.queue.filter((t) => t.live && t.atMs > this.nowMs);
    for (const t of due) t.fn();
    return due.length;
  }
  /** Tick until nothing is due now (a whole pass), bounded. */
  drain(): void {
    for (let i = 0; i < 10_000 && this.tick() > 0;) i++;
  }
  /** When the next live timer is due, in ms from now (Infinity: none). */
  nextInMs(): number {
    const live = this.queue.filter((t) => t.live);
    return live.length === 0 ? Infinity : Math.min(...live.map((t) => t.atMs)) - this.nowMs;
  }
}

function put(store: ItemStore, key: string, exptimeSec: number, value = 'v', storedAtSec = 1_700_000_000): void {
  const effect: PutEffect = {
    kind: 'put', key: Buffer.from(key), value: Buffer.from(value), flags: 0, exptimeSec, cas: store.lastCas + 1n,
    storedAtSec, stale: false, keyBinary: false,
  };
  store.apply(effect);
}

function setup(memoryLimitBytes = 64 * 1024 * 1024) {
  const timers = new ManualTimers();
  // Two classes by size, as the daemon's slab classes split them.
  const store = new ItemStore(memoryLimitBytes, () => timers.nowSec(), (bytes) => (bytes > 100 ? 2 : 1));
  const settings = defaultCrawlerSettings();
  const pending = new Set<string>();
  const crawler = new ExpiryCrawler(store, settings, timers, (id) => pending.has(id));
  return { timers, store, settings, crawler, pending };
}

const keysOf = (store: ItemStore) => [...store.entries()].map((i) => i.key.toString()).sort();

it('takes out expired and flushed items and leaves live ones, counting as memcached does', () => {
  const { timers, store, crawler } = setup();
  const now = timers.nowSec();
  put(store, 'live', 0);
  put(store, 'later', now + 100);
  put(store, 'expired', now + 1);
  put(store, 'fetched-expired', now + 1);
  const read = store.lookup(Buffer.from('fetched-expired'));
  if (typeof read === 'string') throw new Error(read);
  read.fetched = true;
  put(store, 'flushed', 0, 'v', now - 100);
  store.apply({ kind: 'flush', immediate: false, oldestLiveSec: now - 50, cas: store.lastCas + 1n });
  timers.nowMs += 2000;
  expect(crawler.crawl()).toBe('started');
  timers.drain();
  expect(keysOf(store)).toEqual(['later', 'live']);
  expect(crawler.stats()).toEqual({ running: false, starts: 1, reclaimed: 3, itemsChecked: 5 });
  const s = store.stats();
  expect(s.expiredUnfetched).toBe(1); // 'expired'; 'fetched-expired' was read; a flushed item never counts
  expect(s.reclaimed).toBe(0); // memcached's `reclaimed` counts lookups, not the crawler
});

it('frees the memory of dead items, so new sets no longer evict live ones first', () => {
  const itemBytes = 48 + 8 + 6 + 1 + 100 + 2; // key 'k00000', 100-byte value
  const { timers, store, crawler } = setup(20 * itemBytes);
  const now = timers.nowSec();
  const value = 'x'.repeat(100);
  for (let i = 0; i < 10; i++) put(store, `l${String(i).padStart(5, '0')}`, 0, value); // live, oldest in the LRU
  for (let i = 0; i < 10; i++) put(store, `s${String(i).padStart(5, '0')}`, now + 1, value); // short TTL, newest
  timers.nowMs += 2000;
  crawler.crawl();
  timers.drain();
  for (let i = 0; i < 10; i++) put(store, `n${String(i).padStart(5, '0')}`, 0, value);
  expect(store.stats().evictions).toBe(0);
  expect(keysOf(store).filter((k) => k.startsWith('l'))).toHaveLength(10);

  // Without the crawl, the same sets evict the live items (the dead ones are more recently used).
  const other = setup(20 * itemBytes);
  for (let i = 0; i < 10; i++) put(other.store, `l${String(i).padStart(5, '0')}`, 0, value);
  for (let i = 0; i < 10; i++) put(other.store, `s${String(i).padStart(5, '0')}`, other.timers.nowSec() + 1, value);
  other.timers.nowMs += 2000;
  for (let i = 0; i < 10; i++) put(other.store, `n${String(i).padStart(5, '0')}`, 0, value);
  expect(other.store.stats().evictions).toBe(10);
});

it('walks a large store in steps, yielding between them, and meets each item once', () => {
  const { timers, store, crawler } = setup();
  const n = 2 * CRAWL_STEP_ITEMS + 500;
  for (let i = 0; i < n; i++) put(store, `k${i}`, timers.nowSec() + 1);
  timers.nowMs += 2000;
  crawler.crawl();
  timers.tick();
  expect(crawler.stats().itemsChecked).toBe(CRAWL_STEP_ITEMS);
  expect(crawler.crawl()).toBe('busy');
  // Between steps the store changes: a deleted key, a key replaced with a live item, new keys.
  store.apply({ kind: 'delete', key: Buffer.from(`k${n - 1}`) });
  put(store, `k${n - 2}`, 0);
  for (let i = 0; i < 10; i++) put(store, `new${i}`, 0);
  timers.drain();
  const stats = crawler.stats();
  expect(stats.running).toBe(false);
  expect(stats.reclaimed).toBe(n - 2);
  expect(keysOf(store)).toEqual([`k${n - 2}`, ...Array.from({ length: 10 }, (_, i) => `new${i}`)].sort());
  // Bounded by the items stored when it began.
  expect(stats.itemsChecked).toBeLessThanOrEqual(n);
});

it('crawls only the classes asked for, at most tocrawl items per class', () => {
  const { timers, store, crawler, settings } = setup();
  for (let i = 0; i < 5; i++) put(store, `small${i}`, timers.nowSec() + 1);
  for (let i = 0; i < 5; i++) put(store, `big${i}`, timers.nowSec() + 1, 'b'.repeat(200));
  timers.nowMs += 2000;
  crawler.crawl(new Set([2]));
  timers.drain();
  expect(keysOf(store)).toEqual(['small0', 'small1', 'small2', 'small3', 'small4']);
  settings.toCrawl = 2;
  crawler.crawl();
  timers.drain();
  expect(keysOf(store)).toEqual(['small2', 'small3', 'small4']);
  expect(crawler.stats().itemsChecked).toBe(5 + 2);
});

it('leaves items a write in flight refers to', () => {
  const { timers, store, crawler, pending } = setup();
  put(store, 'touched', timers.nowSec() + 1);
  put(store, 'other', timers.nowSec() + 1);
  pending.add('touched');
  timers.nowMs += 2000;
  crawler.crawl();
  timers.drain();
  expect(keysOf(store)).toEqual(['touched']);
});

it('disabled: refuses passes, stops one in progress, schedules nothing; enabled again: automatic passes resume', () => {
  const { timers, store, crawler } = setup();
  for (let i = 0; i < 3 * CRAWL_STEP_ITEMS; i++) put(store, `k${i}`, timers.nowSec() + 1);
  timers.nowMs += 2000;
  crawler.start();
  crawler.crawl();
  timers.tick();
  crawler.disable();
  timers.nowMs += 3_600_000;
  timers.drain();
  expect(crawler.stats()).toMatchObject({ running: false, itemsChecked: CRAWL_STEP_ITEMS });
  expect(crawler.crawl()).toBe('disabled');
  expect(timers.nextInMs()).toBe(Infinity);
  expect(crawler.enable()).toBe(true);
  expect(crawler.enable()).toBe(false);
  expect(timers.nextInMs()).toBe(MIN_AUTO_WAIT_SEC * 1000);
  timers.nowMs += MIN_AUTO_WAIT_SEC * 1000;
  timers.drain();
  expect(store.stats().currItems).toBe(0);
});

it('schedules the next automatic pass for when about 1% of the live items with an expiry will have expired', () => {
  const { timers, store, crawler } = setup();
  crawler.start();
  expect(timers.nextInMs()).toBe(MIN_AUTO_WAIT_SEC * 1000);
  // Nothing expires: the longest wait.
  timers.nowMs += MIN_AUTO_WAIT_SEC * 1000;
  timers.drain();
  expect(timers.nextInMs()).toBe(MAX_AUTO_WAIT_SEC * 1000);
  // 200 items, 2 of them (1%) expiring in 20 s, the rest in an hour.
  const now = timers.nowSec();
  for (let i = 0; i < 198; i++) put(store, `h${i}`, now + 3600);
  put(store, 'soon1', now + 20);
  put(store, 'soon2', now + 20);
  crawler.crawl();
  timers.drain();
  expect(timers.nextInMs()).toBe(20_000);
  // One item expiring in 1 s: never sooner than the shortest wait.
  put(store, 'now', timers.nowSec() + 1);
  store.apply({ kind: 'delete', key: Buffer.from('soon1') });
  store.apply({ kind: 'delete', key: Buffer.from('soon2') });
  for (let i = 0; i < 198; i++) store.apply({ kind: 'delete', key: Buffer.from(`h${i}`) });
  crawler.crawl();
  timers.drain();
  expect(timers.nextInMs()).toBe(MIN_AUTO_WAIT_SEC * 1000);
  crawler.stop();
  expect(timers.nextInMs()).toBe(Infinity);
});

it('on a follower, expired items it may not remove yet bring the next pass forward only once a decision came', () => {
  const { timers, store, crawler } = setup();
  // A follower removes a dead item only by the clock of the decisions it applied (store.ts).
  let decisionClockSec = timers.nowSec();
  store.removalClockSec = () => decisionClockSec;
  for (let i = 0; i < 100; i++) put(store, `k${i}`, timers.nowSec() + 1);
  timers.nowMs += 2000;
  crawler.start();
  expect(crawler.crawl()).toBe('started');
  timers.drain();
  expect(store.stats().currItems).toBe(100);
  // Idle: no decision comes, and no pass re-reads the store for items it cannot remove.
  for (let i = 0; i < 10; i++) {
    timers.nowMs += MIN_AUTO_WAIT_SEC * 1000;
    timers.drain();
  }
  expect(crawler.stats().starts).toBe(1);
  // A write is applied (its decision time passed the items' expiry): the next check crawls.
  decisionClockSec = timers.nowSec();
  timers.nowMs += MIN_AUTO_WAIT_SEC * 1000;
  timers.drain();
  expect(crawler.stats()).toMatchObject({ starts: 2, reclaimed: 100 });
  expect(store.stats().currItems).toBe(0);
});

it('on a follower that stays idle, a pass still comes when other items are due', () => {
  const { timers, store, crawler } = setup();
  const decisionClockSec = timers.nowSec();
  store.removalClockSec = () => decisionClockSec;
  for (let i = 0; i < 100; i++) put(store, `k${i}`, timers.nowSec() + 1);
  put(store, 'later', timers.nowSec() + 30);
  timers.nowMs += 2000;
  crawler.start();
  crawler.crawl();
  timers.drain();
  for (let i = 0; i < 12 && crawler.stats().starts === 1; i++) {
    timers.nowMs += MIN_AUTO_WAIT_SEC * 1000;
    timers.drain();
  }
  // Due by 'later' (29 s after the first pass): the second pass comes with it, not every 5 s before.
  expect(crawler.stats().starts).toBe(2);
  expect(timers.nowSec() - decisionClockSec).toBeGreaterThanOrEqual(2 + 29);
});
