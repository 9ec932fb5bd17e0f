/**
 * The expiry crawler: memcached's LRU crawler, as far as it reclaims memory. Expired and flushed
 * items are invisible to clients at once, but without a crawler they hold their memory until a
 * lookup meets them or the LRU evicts them, and under a full cache the LRU then evicts live items
 * first while dead ones that were used recently stay. The crawler walks the store in small steps
 * between client work and takes dead items out.
 *
 * Passes: `lru_crawler crawl all|<class ids>` starts one at once; otherwise one starts on its own
 * after a wait chosen from what the last pass saw: until about 1% of the live items it checked that
 * carry an expiry will have expired, at least MIN_AUTO_WAIT_SEC and at most MAX_AUTO_WAIT_SEC
 * (memcached's maintainer schedules its crawls from such a histogram too).
 *
 * A cluster follower removes a dead item only once the decisions it applied say so (store.ts,
 * `removable`), so on an idle follower expired items stay until the next write. Those items make
 * the next pass due early only if a decision came since: re-reading them every MIN_AUTO_WAIT_SEC
 * while nothing can change was a pass over the whole store for nothing.
 *
 * Invariants:
 * - At most one pass runs; a pass checks at most as many items as the store held when it began
 *   (and `toCrawl` per class when set), so it ends even under a stream of new keys.
 * - A pass never takes an item a write in flight refers to (`keep`: a cluster leader's pending
 *   effects), as the leader's own lookups leave those items alone.
 * - Reclaiming is local, like eviction: a dead item reads as missing everywhere, so which node took
 *   it out when changes nothing a client sees.
 */
import { MAX_SLAB_CLASS_ID } from './slab-classes';
import type { ItemStore, StoredItem } from './store';

/** Items checked per step; the crawler yields the event loop between steps (memcached: crawls_persleep). */
export const CRAWL_STEP_ITEMS = 1000;
export const MIN_AUTO_WAIT_SEC = 5;
export const MAX_AUTO_WAIT_SEC = 60;
/** memcached's bound on lru_crawler_sleep. */
export const MAX_CRAWLER_SLEEP_US = 1_000_000;

export interface CrawlerSettings {
  /** `-o no_lru_crawler` / `lru_crawler disable` turn it off (no passes, automatic or asked for). */
  enabled: boolean;
  /** Microseconds between steps (memcached's lru_crawler_sleep, default 100). */
  sleepUs: number;
  /** Most items checked per class in one pass; 0 = all (memcached's lru_crawler_tocrawl). */
  toCrawl: number;
}

export function defaultCrawlerSettings(): CrawlerSettings {
  return { enabled: true, sleepUs: 100, toCrawl: 0 };
}

export interface CrawlerStats {
  running: boolean;
  starts: number;
  reclaimed: number;
  itemsChecked: number;
}

/** Time for the crawler; tests drive it by hand. */
export interface CrawlerTimers {
  /** Run `fn` after `ms` (0: once pending I/O had its turn). */
  after(ms: number, fn: () => void): { cancel(): void };
  nowSec(): number;
  clockMs(): number;
}

export const realCrawlerTimers: CrawlerTimers = {
  after(ms, fn) {
    if (ms >= 1) {
      const t = setTimeout(fn, ms);
      t.unref();
      return { cancel: () => clearTimeout(t) };
    }
    const i = setImmediate(fn);
    return { cancel: () => clearImmediate(i) };
  },
  nowSec: () => Math.floor(Date.now() / 1000),
  clockMs: () => Date.now(),
};

export type CrawlRequest = 'started' | 'busy' | 'disabled';

interface Pass {
  items: IterableIterator<StoredItem>;
  /** Items this pass may still check in all. */
  budget: number;
  /** Only these classes (undefined: all). */
  classes: ReadonlySet<number> | undefined;
  checkedPerClass: Map<number, number>;
  /** Live items with an expiry, by whole seconds left (index 1..MAX_AUTO_WAIT_SEC-1; 0 unused), and how many in all. */
  expiringIn: number[];
  withExpiry: number;
  /** Items dead by this node's clock that the decisions applied so far do not let it remove. */
  awaitingDecision: number;
}

/** A pass made due early only by items awaiting a decision: it starts once the decision clock moved. */
interface AwaitedPass {
  decisionClockSec: number;
  /** When the pass is due anyway, by the items that expire on their own (timers' ms). */
  dueAnywayAtMs: number;
}

export class ExpiryCrawler {
  private pass: Pass | null = null;
  private timer: { cancel(): void } | null = null;
  private starts = 0;
  private reclaimed = 0;
  private itemsChecked = 0;
  private stopped = false;
  private awaited: AwaitedPass | null = null;
  /** Per class (stats items): items checked and reclaimed, index = class id. */
  private readonly checkedByClass = new Float64Array(MAX_SLAB_CLASS_ID + 1);
  private readonly reclaimedByClass = new Float64Array(MAX_SLAB_CLASS_ID + 1);

  constructor(
    private readonly store: ItemStore,
    readonly settings: CrawlerSettings,
    private readonly timers: CrawlerTimers = realCrawlerTimers,
    /** Items a write in flight refers to: never reclaimed by a pass. */
    private readonly keep: (id: string) => boolean = () => false,
  ) {}

  /** Schedules the first automatic pass. */
  start(): void {
    this.stopped = false;
    this.scheduleAuto(MIN_AUTO_WAIT_SEC);
  }

  stop(): void {
    this.stopped = true;
    this.pass = null;
    this.timer?.cancel();
    this.timer = null;
  }

  /** `lru_crawler crawl`: a pass over these classes (undefined: all) now. */
  crawl(classes?: ReadonlySet<number>): CrawlRequest {
    if (!this.settings.enabled) return 'disabled';
    if (this.pass !== null) return 'busy';
    this.begin(classes);
    return 'started';
  }

  /** `lru_crawler enable`: false if it already was (memcached's "failed to start" case). */
  enable(): boolean {
    if (this.settings.enabled) return false;
    this.settings.enabled = true;
    if (!this.stopped) this.scheduleAuto(MIN_AUTO_WAIT_SEC);
    return true;
  }

  /** `lru_crawler disable`: a pass in progress ends where it is. */
  disable(): void {
    this.settings.enabled = false;
    this.pass = null;
    this.timer?.cancel();
    this.timer = null;
  }

  stats(): CrawlerStats {
    return { running: this.pass !== null, starts: this.starts, reclaimed: this.reclaimed, itemsChecked: this.itemsChecked };
  }

  /** One class's share of crawler_items_checked and crawler_reclaimed. */
  classStats(cls: number): { itemsChecked: number; reclaimed: number } {
    return { itemsChecked: this.checkedByClass[cls], reclaimed: this.reclaimedByClass[cls] };
  }

  resetStats(): void {
    this.starts = 0;
    this.reclaimed = 0;
    this.itemsChecked = 0;
    this.checkedByClass.fill(0);
    this.reclaimedByClass.fill(0);
  }

  private begin(classes: ReadonlySet<number> | undefined): void {
    this.timer?.cancel();
    this.timer = null;
    this.awaited = null;
    this.starts++;
    this.pass = {
      items: this.store.crawlItems(),
      budget: this.store.stats().currItems,
      classes,
      checkedPerClass: new Map(),
      expiringIn: new Array<number>(MAX_AUTO_WAIT_SEC).fill(0),
      withExpiry: 0,
      awaitingDecision: 0,
    };
    this.next();
  }

  private next(): void {
    this.timer = this.timers.after(this.settings.sleepUs / 1000, () => {
      this.timer = null;
      this.step();
    });
  }

  private step(): void {
    const pass = this.pass;
    if (pass === null || this.stopped) return;
    const nowSec = this.timers.nowSec();
    for (let n = 0; n < CRAWL_STEP_ITEMS; n++) {
      if (pass.budget <= 0) return this.end(pass);
      const r = pass.items.next();
      if (r.done === true) return this.end(pass);
      pass.budget--;
      const item = r.value;
      // The class (`lru_crawler crawl` ids) matters only to a pass over some classes, or one capped per class.
      if (pass.classes !== undefined || this.settings.toCrawl > 0) {
        if (pass.classes !== undefined && !pass.classes.has(item.cls)) continue;
        const checked = pass.checkedPerClass.get(item.cls) ?? 0;
        if (this.settings.toCrawl > 0 && checked >= this.settings.toCrawl) continue;
        pass.checkedPerClass.set(item.cls, checked + 1);
      }
      this.itemsChecked++;
      this.checkedByClass[item.cls]++;
      if (this.keep(item.id)) continue;
      if (this.store.reclaimIfDead(item, nowSec) !== undefined) {
        this.reclaimed++;
        this.reclaimedByClass[item.cls]++;
      } else if (item.exptimeSec !== 0) {
        const left = item.exptimeSec - nowSec;
        if (left <= 0) pass.awaitingDecision++;
        else {
          pass.withExpiry++;
          if (left < MAX_AUTO_WAIT_SEC) pass.expiringIn[left]++;
        }
      }
    }
    this.next();
  }

  private end(pass: Pass): void {
    this.pass = null;
    // The next automatic pass: once ~1% of the items with an expiry will have expired.
    const due = Math.max(1, Math.ceil((pass.withExpiry + pass.awaitingDecision) / 100));
    let waitSec = MAX_AUTO_WAIT_SEC;
    for (let s = 1, seen = 0; s < MAX_AUTO_WAIT_SEC; s++) {
      seen += pass.expiringIn[s];
      if (seen >= due) {
        waitSec = s; // an item with s seconds left is dead once they passed
        break;
      }
    }
    waitSec = Math.max(MIN_AUTO_WAIT_SEC, waitSec);
    if (pass.awaitingDecision >= due && waitSec > MIN_AUTO_WAIT_SEC) {
      this.awaited = { decisionClockSec: this.store.decisionClockSec(), dueAnywayAtMs: this.timers.clockMs() + waitSec * 1000 };
      waitSec = MIN_AUTO_WAIT_SEC;
    }
    this.scheduleAuto(waitSec);
  }

  private scheduleAuto(waitSec: number): void {
    if (!this.settings.enabled || this.stopped || this.pass !== null) return;
    this.timer?.cancel();
    this.timer = this.timers.after(waitSec * 1000, () => {
      this.timer = null;
      if (!this.settings.enabled || this.pass !== null || this.stopped) return;
      const awaited = this.awaited;
      const leftMs = awaited === null ? 0 : awaited.dueAnywayAtMs - this.timers.clockMs();
      if (awaited !== null && this.store.decisionClockSec() === awaited.decisionClockSec && leftMs > 0) {
        // Nothing was decided since: the items that made this pass due cannot go yet.
        this.scheduleAuto(Math.min(MIN_AUTO_WAIT_SEC, leftMs / 1000));
        return;
      }
      this.begin(undefined);
    });
  }
}
