/**
 * `watch [fetchers] [mutations] [evictions] [connevents]`: memcached's log stream. A connection that
 * sends it gets OK and from then on one line per event of the kinds it asked for (fetchers alone
 * when it named none), in memcached 1.6.18's format:
 *   ts=<unix s>.<us, not zero-padded> gid=<event number> type=item_get key=<uri-encoded> status=found|not_found|expired|flushed clsid=<n> cfd=<fd> size=<value bytes>
 *   ... type=item_store key=... status=stored|exists|not_found|not_stored|no_memory cmd=set|add|replace|append|prepend|cas ttl=<s> clsid=<n> cfd=<fd> size=<n>
 *   ... type=eviction key=... fetch=yes|no ttl=<s, -1 = never> la=<s since last access> clsid=<n> size=<n>
 *   ... type=conn_new rip=<ip> rport=<port> transport=tcp|local cfd=<fd>
 *   ... type=conn_close rip=... rport=... transport=... reason=normal|idle_timeout|error cfd=<fd>
 * Events are numbered (gid) across every kind some watcher asked for, as memcached numbers them.
 * A watcher that does not read keeps at most WATCHER_BUFFER_BYTES of lines; later ones are dropped
 * and counted, and once it reads again it gets a `skipped=<count>` line first (memcached's form).
 *
 * Invariant: with no watcher of a kind, emitting that kind costs one boolean test (`on.*`) at the
 * call site; nothing is formatted.
 */
import type { ItemStore, StoredItem } from './cache/store';
import { uriEncodeKey } from './metadump';
import type { WatchType } from '../protocol/ascii/commands';

/** memcached's watcher_logbuf_size default. */
export const WATCHER_BUFFER_BYTES = 256 * 1024;

/** Where a watcher's lines go. */
export interface WatchSink {
  /** Bytes written to the watcher and not yet sent. */
  pendingBytes(): number;
  write(text: string): void;
}

interface Watcher {
  types: ReadonlySet<WatchType>;
  sink: WatchSink;
  skipped: number;
}

/** What a client connection is, for conn_* lines and cfd. */
export interface WatchedConn {
  fd: number;
  remoteIp: string;
  remotePort: number;
  transport: 'tcp' | 'local';
}

export type ItemGetStatus = 'found' | 'not_found' | 'expired' | 'flushed';

export class WatchHub {
  /** Whether some watcher wants each kind (read on hot paths). */
  readonly on: Record<WatchType, boolean> = { fetchers: false, mutations: false, evictions: false, connevents: false };
  private readonly watchers = new Set<Watcher>();
  private gid = 0;

  constructor(
    private readonly store: ItemStore,
    private readonly nowMs: () => number = () => performance.timeOrigin + performance.now(),
  ) {}

  /** A connection turned watcher; the returned function ends it (the connection closed). */
  add(types: readonly WatchType[], sink: WatchSink): () => void {
    const w: Watcher = { types: new Set(types), sink, skipped: 0 };
    this.watchers.add(w);
    this.refresh();
    return () => {
      this.watchers.delete(w);
      this.refresh();
    };
  }

  /** A key was looked up (fetchers): what the lookup will find, from the store as it is now. */
  itemGet(key: Buffer, fd: number): void {
    const peek = this.store.peek(key);
    const item = typeof peek === 'string' ? undefined : peek;
    const status: ItemGetStatus = item !== undefined ? 'found' : peek === 'missing' ? 'not_found' : (peek as ItemGetStatus);
    this.emit('fetchers', `type=item_get key=${uriEncodeKey(key)} status=${status} clsid=${item ? item.cls : 0} cfd=${fd} size=${item ? item.value.length : 0}`);
  }

  /** A store command's outcome (mutations). `itemBytes`/`valueBytes`: of the item it would store. */
  itemStore(key: Buffer, status: string, cmd: string, ttlSec: number, itemBytes: number, valueBytes: number, fd: number): void {
    this.emit('mutations', `type=item_store key=${uriEncodeKey(key)} status=${status} cmd=${cmd} ttl=${ttlSec} clsid=${this.store.classOf(itemBytes)} cfd=${fd} size=${valueBytes}`);
  }

  eviction(item: StoredItem): void {
    const nowSec = Math.floor(this.nowMs() / 1000);
    const ttl = item.exptimeSec === 0 ? -1 : item.exptimeSec - nowSec;
    this.emit('evictions', `type=eviction key=${uriEncodeKey(item.key)} fetch=${item.fetched ? 'yes' : 'no'} ttl=${ttl} la=${nowSec - item.lastAccessSec} clsid=${item.cls} size=${item.value.length}`);
  }

  connNew(c: WatchedConn): void {
    this.emit('connevents', `type=conn_new rip=${c.remoteIp} rport=${c.remotePort} transport=${c.transport} cfd=${c.fd}`);
  }

  connClose(c: WatchedConn, reason: 'normal' | 'idle_timeout' | 'error'): void {
    this.emit('connevents', `type=conn_close rip=${c.remoteIp} rport=${c.remotePort} transport=${c.transport} reason=${reason} cfd=${c.fd}`);
  }

  private emit(type: WatchType, body: string): void {
    if (!this.on[type]) return;
    this.gid++;
    const ms = this.nowMs();
    // memcached prints the microseconds as a plain %d (ts=1700000000.2004 is 2004 us): so do we.
    const line = `ts=${Math.floor(ms / 1000)}.${Math.floor((ms % 1000) * 1000)} gid=${this.gid} ${body}\n`;
    for (const w of this.watchers) {
      if (!w.types.has(type)) continue;
      if (w.sink.pendingBytes() > WATCHER_BUFFER_BYTES) {
        w.skipped++;
        continue;
      }
      if (w.skipped > 0) {
        w.sink.write(`skipped=${w.skipped}\n`);
        w.skipped = 0;
      }
      w.sink.write(line);
    }
  }

  private refresh(): void {
    for (const t of Object.keys(this.on) as WatchType[]) this.on[t] = false;
    for (const w of this.watchers) for (const t of w.types) this.on[t] = true;
  }
}
