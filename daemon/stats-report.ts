/**
 * The `stats` groups, named and ordered as memcached 1.6 reports them, so dashboards and tools that
 * scrape memcached read mucached unchanged. Values that describe memcached internals we do not have
 * (slab pages, hash table) are derived from our items the way memcached would account them.
 */
import type { CrawlerSettings, CrawlerStats } from './cache/crawler';
import type { ClassStats } from './class-stats';
import { slabClassSizes } from './cache/slab-classes';
import type { CommandCounters, StatsGroup } from './context';
import type { ItemStore } from './cache/store';
import { TlsSettings, tlsSettingsPairs } from './tls-settings';

export interface Settings {
  port: number;
  listenHost: string;
  memoryLimitBytes: number;
  maxConnections: number;
  itemSizeMaxBytes: number;
  threads: number;
  verbosity: number;
  /** `-o idle_timeout`, seconds (0 = off). */
  idleTimeoutSec?: number;
  /** `-S`: SASL authentication on the binary protocol. */
  saslEnabled?: boolean;
  /** `-M` turns evictions off: a store that does not fit fails with SERVER_ERROR out of memory. */
  evictions?: boolean;
  /** `-C` turns CAS off: cas uniques read 0 and cas commands fail. */
  casEnabled?: boolean;
  /** `-X` turns metadump off. */
  dumpEnabled?: boolean;
  /** `-W` turns watch off. */
  watchEnabled?: boolean;
  /** `-F` turns flush_all off. */
  flushEnabled?: boolean;
  /** `-A`: the text `shutdown` command stops the daemon. */
  shutdownEnabled?: boolean;
  /** `-s`: the UNIX socket served instead of TCP, and its `-a` mask (octal text). */
  unixSocket?: string;
  unixMask?: string;
  /** `-D`: per-prefix stats from the start, with this delimiter (stats detail). */
  prefixDelimiter?: string;
  /** `-Z`: TLS on the TCP port. */
  tls?: TlsSettings;
  /** `-b`: listen backlog. */
  tcpBacklog?: number;
  /** The expiry crawler's settings (`-o lru_crawler...`, `lru_crawler enable|disable|sleep|tocrawl`). */
  crawler?: CrawlerSettings;
  /** `-B`: ascii, binary or auto. */
  bindingProtocol?: 'ascii' | 'binary' | 'auto';
  /** `-o track_sizes`: the item size histogram (stats sizes) is on from the start. */
  trackSizes?: boolean;
}

/** A client connection or (state conn_listening, no listenAddr) a listening socket, as `stats conns` shows it. */
export interface ConnInfo {
  /** Its file descriptor, as memcached numbers them. */
  id: number;
  /** tcp:IP:PORT, tcp6:[IP]:PORT or unix:PATH. */
  addr: string;
  /** A client's: the local end it reached (same forms). */
  listenAddr?: string;
  /** memcached's state names: conn_listening, conn_parse_cmd, conn_read, conn_nread, conn_mwrite. */
  state: string;
  secsSinceLastCmd: number;
}

export interface ServerState {
  startedAtMs: number;
  version: string;
  currConnections: number;
  totalConnections: number;
  rejectedConnections: number;
  bytesRead: number;
  bytesWritten: number;
  conns: ConnInfo[];
  /** Per-prefix stats (stats detail): on or off now, and their delimiter. */
  detailEnabled: boolean;
  prefixDelimiter: string;
  crawler: CrawlerStats;
  /** The crawler's counts for one class (stats items). */
  crawlerOf?: (cls: number) => { itemsChecked: number; reclaimed: number };
  /** Evictions and -M refusals per slab class (stats items). */
  classStats?: ClassStats;
  /** With -Z: handshakes that failed, and when the certificates were last (re)loaded. */
  tlsHandshakeErrors?: number;
  tlsCertLoadedAtMs?: number;
}

type Pairs = Array<[string, string]>;

export function statsGroup(
  group: StatsGroup,
  counters: CommandCounters,
  store: ItemStore,
  settings: Settings,
  server: ServerState,
): Pairs | undefined {
  switch (group) {
    case '': return general(counters, store, settings, server);
    case 'settings': return settingsPairs(settings, server);
    case 'items': return items(store, settings, server);
    case 'slabs': return slabs(store, settings);
    case 'conns': return conns(server);
    case 'sizes': {
      const buckets = store.sizeBuckets();
      return buckets === null ? [['sizes_status', 'disabled']] : buckets.map(([bytes, count]) => [String(bytes), String(count)]);
    }
    case 'mu': return undefined; // a single node has no replication: the server adds it in a cluster
  }
  return undefined;
}

function general(c: CommandCounters, store: ItemStore, settings: Settings, server: ServerState): Pairs {
  const nowMs = Date.now();
  const usage = process.resourceUsage();
  const s = store.stats();
  const seconds = (micros: number) => (micros / 1e6).toFixed(6);
  const pairs: Pairs = [
    ['pid', String(process.pid)],
    ['uptime', String(Math.floor((nowMs - server.startedAtMs) / 1000))],
    ['time', String(Math.floor(nowMs / 1000))],
    ['version', server.version],
    ['pointer_size', '64'],
    ['rusage_user', seconds(usage.userCPUTime)],
    ['rusage_system', seconds(usage.systemCPUTime)],
    ['max_connections', String(settings.maxConnections)],
    ['curr_connections', String(server.currConnections)],
    ['total_connections', String(server.totalConnections)],
    ['rejected_connections', String(server.rejectedConnections)],
    ['connection_structures', String(server.currConnections)],
  ];
  for (const [name, value] of Object.entries(c)) pairs.push([name, String(value)]);
  pairs.push(
    ['bytes_read', String(server.bytesRead)],
    ['bytes_written', String(server.bytesWritten)],
    ['limit_maxbytes', String(settings.memoryLimitBytes)],
    ['accepting_conns', '1'],
    ['threads', String(settings.threads)],
    ['lru_crawler_running', server.crawler.running ? '1' : '0'],
    ['lru_crawler_starts', String(server.crawler.starts)],
    ['bytes', String(s.usedBytes)],
    ['curr_items', String(s.currItems)],
    ['total_items', String(s.totalItems)],
    ['expired_unfetched', String(s.expiredUnfetched)],
    ['evicted_unfetched', String(s.evictedUnfetched)],
    ['evictions', String(s.evictions)],
    ['reclaimed', String(s.reclaimed)],
    ['crawler_reclaimed', String(server.crawler.reclaimed)],
    ['crawler_items_checked', String(server.crawler.itemsChecked)],
  );
  if (settings.tls !== undefined) {
    pairs.push(
      ['ssl_handshake_errors', String(server.tlsHandshakeErrors ?? 0)],
      ['time_since_server_cert_refresh', String(Math.floor((nowMs - (server.tlsCertLoadedAtMs ?? server.startedAtMs)) / 1000))],
    );
  }
  return pairs;
}

/** As memcached names it in `stats settings` (-S implies binary). */
function bindingProtocolName(settings: Settings): string {
  if (settings.saslEnabled || settings.bindingProtocol === 'binary') return 'binary';
  return settings.bindingProtocol === 'ascii' ? 'ascii' : 'auto-negotiate';
}

function settingsPairs(settings: Settings, server: ServerState): Pairs {
  return [
    ['maxbytes', String(settings.memoryLimitBytes)],
    ['maxconns', String(settings.maxConnections)],
    ['tcpport', String(settings.port)],
    ['udpport', '0'],
    ['inter', settings.listenHost],
    ['verbosity', String(settings.verbosity)],
    ['oldest', '0'],
    ['evictions', settings.evictions === false ? 'off' : 'on'],
    ['domain_socket', settings.unixSocket ?? 'NULL'],
    ['umask', settings.unixMask ?? '700'],
    ['shutdown_command', settings.shutdownEnabled ? 'yes' : 'no'],
    ['growth_factor', '1.25'],
    ['chunk_size', '48'],
    ['num_threads', String(settings.threads)],
    ['stat_key_prefix', server.prefixDelimiter],
    ['detail_enabled', server.detailEnabled ? 'yes' : 'no'],
    ['cas_enabled', settings.casEnabled === false ? 'no' : 'yes'],
    ['tcp_backlog', String(settings.tcpBacklog ?? 1024)],
    ['binding_protocol', bindingProtocolName(settings)],
    ['auth_enabled_sasl', settings.saslEnabled ? 'yes' : 'no'],
    ['item_size_max', String(settings.itemSizeMaxBytes)],
    ['maxconns_fast', 'yes'],
    ['slab_chunk_max', String(Math.floor(settings.itemSizeMaxBytes / 2))],
    ['lru_crawler', settings.crawler?.enabled === false ? 'no' : 'yes'],
    ['lru_crawler_sleep', String(settings.crawler?.sleepUs ?? 100)],
    ['lru_crawler_tocrawl', String(settings.crawler?.toCrawl ?? 0)],
    ['flush_enabled', settings.flushEnabled === false ? 'no' : 'yes'],
    ['dump_enabled', settings.dumpEnabled === false ? 'no' : 'yes'],
    ['lru_segmented', 'no'],
    ['idle_timeout', String(settings.idleTimeoutSec ?? 0)],
    ['track_sizes', settings.trackSizes === true ? 'yes' : 'no'],
    ...tlsSettingsPairs(settings.tls),
  ];
}

/** What `stats items` and `stats slabs` report of one class's items. */
interface ClassItems {
  count: number;
  /** Sum of the items' sizes (memcached's mem_requested). */
  bytes: number;
  oldestAccessSec: number;
}

/** Per class, in order: from the store's running tallies, and the oldest access from a short LRU walk. */
function perClass(store: ItemStore): Map<number, ClassItems> {
  const tally = store.classTally();
  const oldest = store.oldestAccessByClass(new Set(tally.map((t) => t.cls)));
  return new Map(tally.map((t) => [t.cls, { count: t.count, bytes: t.bytes, oldestAccessSec: oldest.get(t.cls) ?? 0 }]));
}

/**
 * memcached 1.6.18's per-class lines, in its order. The LRU here is one list, not memcached's
 * segmented HOT/WARM/COLD one (stats settings: lru_segmented no), so the segment lines are left out
 * as memcached leaves them out without segments (number_hot, age_warm, hits_to_*...), and the counts
 * of what only a segmented LRU or memcached's locking does are 0 (tailrepairs, evicted_active,
 * lrutail_reflocked, moves_*). Memory is not allocated per class either: nothing is reclaimed
 * directly by an allocating class, so direct_reclaims is left out rather than guessed.
 */
function items(store: ItemStore, settings: Settings, server: ServerState): Pairs {
  const nowSec = Math.floor(Date.now() / 1000);
  const pairs: Pairs = [];
  for (const [cls, c] of perClass(store)) {
    const counted = server.classStats?.of(cls);
    const reclaims = store.classReclaims(cls);
    const crawled = server.crawlerOf?.(cls) ?? { itemsChecked: 0, reclaimed: 0 };
    pairs.push(
      [`items:${cls}:number`, String(c.count)],
      [`items:${cls}:age`, String(Math.max(0, nowSec - c.oldestAccessSec))],
      [`items:${cls}:mem_requested`, String(c.bytes)],
      [`items:${cls}:evicted`, String(counted?.evicted ?? 0)],
      [`items:${cls}:evicted_nonzero`, String(counted?.evictedNonzero ?? 0)],
      [`items:${cls}:evicted_time`, String(counted?.evictedTimeSec ?? 0)],
      [`items:${cls}:outofmemory`, String(counted?.outOfMemory ?? 0)],
      [`items:${cls}:tailrepairs`, '0'],
      [`items:${cls}:reclaimed`, String(reclaims.reclaimed)],
      [`items:${cls}:expired_unfetched`, String(reclaims.expiredUnfetched)],
      [`items:${cls}:evicted_unfetched`, String(counted?.evictedUnfetched ?? 0)],
      [`items:${cls}:evicted_active`, '0'],
      [`items:${cls}:crawler_reclaimed`, String(crawled.reclaimed)],
      [`items:${cls}:crawler_items_checked`, String(crawled.itemsChecked)],
      [`items:${cls}:lrutail_reflocked`, '0'],
      [`items:${cls}:moves_to_cold`, '0'],
      [`items:${cls}:moves_to_warm`, '0'],
      [`items:${cls}:moves_within_lru`, '0'],
    );
  }
  return pairs;
}

function slabs(store: ItemStore, settings: Settings): Pairs {
  const sizes = slabClassSizes(settings.itemSizeMaxBytes);
  const pageBytes = 1024 * 1024;
  const pairs: Pairs = [];
  let totalPages = 0;
  const classes = perClass(store);
  for (const [cls, c] of classes) {
    const chunkBytes = sizes[cls - 1];
    const perPage = Math.max(1, Math.floor(pageBytes / chunkBytes));
    const pages = Math.ceil(c.count / perPage);
    totalPages += pages;
    pairs.push(
      [`${cls}:chunk_size`, String(chunkBytes)],
      [`${cls}:chunks_per_page`, String(perPage)],
      [`${cls}:total_pages`, String(pages)],
      [`${cls}:total_chunks`, String(pages * perPage)],
      [`${cls}:used_chunks`, String(c.count)],
      [`${cls}:free_chunks`, String(pages * perPage - c.count)],
    );
  }
  pairs.push(['active_slabs', String(classes.size)], ['total_malloced', String(totalPages * pageBytes)]);
  return pairs;
}

function conns(server: ServerState): Pairs {
  const pairs: Pairs = [];
  for (const c of server.conns) {
    pairs.push([`${c.id}:addr`, c.addr]);
    if (c.listenAddr !== undefined) pairs.push([`${c.id}:listen_addr`, c.listenAddr]);
    pairs.push([`${c.id}:state`, c.state], [`${c.id}:secs_since_last_cmd`, String(c.secsSinceLastCmd)]);
  }
  return pairs;
}
