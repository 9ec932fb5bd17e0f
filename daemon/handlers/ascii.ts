/**
 * The ASCII protocol handler (text + meta): parse with protocol/ascii, call the cache, format
 * replies byte-for-byte as memcached 1.6.18 does, and bump the counters memcached bumps.
 * Meta commands live in meta.ts, multi-gets in ascii-get.ts.
 */
import type { StoreResult } from '../cache/types';
import type { ServerContext } from '../context';
import type { AsciiCommand } from '../../protocol/ascii/commands';
import { EMPTY, line, statLines, statsReply } from '../../protocol/ascii/encode';
import { AsciiParser } from '../../protocol/ascii/parser';
import { safeStrtoul } from '../../protocol/ascii/numbers';
import type { HandlerFactory, ProtocolHandler, ReplySink } from './types';
import { executeGet } from './ascii-get';
import { countCas, fireAndForget, formatResult, serverError } from './ascii-reply';
import { afterReadBarrier } from './linearizable-read';
import { executeMeta } from './meta';
import { crawlerReply } from './crawler-command';
import { MAX_SLAB_CLASS_ID } from '../cache/slab-classes';
import { OrderedReplies } from './command-sequencer';
import type { StatsGroup } from '../context';

// Replies built once: the hot path hands the same bytes to every connection.
const STORE_REPLIES: Record<StoreResult['status'], Buffer> = {
  STORED: line('STORED'),
  NOT_STORED: line('NOT_STORED'),
  EXISTS: line('EXISTS'),
  NOT_FOUND: line('NOT_FOUND'),
  TOO_LARGE: line('SERVER_ERROR object too large for cache'),
  NO_MEMORY: line('SERVER_ERROR out of memory storing object'),
};
const METADUMP_NOT_ALLOWED = line('ERROR metadump not allowed');
const WATCH_NOT_ALLOWED = line('CLIENT_ERROR watch commands not allowed');
const FLUSH_NOT_ALLOWED = line('CLIENT_ERROR flush_all not allowed');
const SHUTDOWN_NOT_ENABLED = line('ERROR: shutdown not enabled');
const INVALID_SHUTDOWN_MODE = line('CLIENT_ERROR invalid shutdown mode');
const MEMLIMIT_TOO_SMALL = line('MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m');
const MEMLIMIT_NOT_BYTES = line('MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes');
/** memcached's bounds for cache_memlimit, in megabytes. */
const MEMLIMIT_MIN_MB = 8;
const MEMLIMIT_MAX_MB = 1_000_000_000;
const DELETED = line('DELETED');
const NOT_FOUND = line('NOT_FOUND');
const TOUCHED = line('TOUCHED');

class AsciiHandler implements ProtocolHandler {
  private readonly parser: AsciiParser;
  private closed = false;

  /** Commands run in order: one arriving while an earlier write is pending waits for it. */
  private readonly order: OrderedReplies;

  constructor(private readonly ctx: ServerContext, private readonly sink: ReplySink) {
    this.order = new OrderedReplies(sink);
    this.parser = new AsciiParser({
      maxKeyBytes: ctx.maxKeyBytes,
      maxValueBytes: (keyBytes, flags) => ctx.engine.maxValueBytes(keyBytes, flags),
    });
  }

  onData(chunk: Buffer): void {
    if (this.closed) return;
    for (const command of this.parser.push(chunk)) {
      if (this.closed) return;
      if (command.kind === 'watch' && command.types !== 'invalid' && !this.ctx.watchDisabled && this.sink.watch !== undefined) {
        // A watcher reads no more commands (memcached ignores what it sends).
        this.closed = true;
        this.sink.watch(command.types);
        return;
      }
      this.order.run((sink) => this.execute(command, sink));
    }
  }

  bufferedBytes(): number {
    return this.parser.bufferedBytes();
  }

  copiesAhead(): number {
    return this.closed ? 0 : this.parser.copiesAhead();
  }

  private execute(c: AsciiCommand, sink: ReplySink): void {
    const { ctx } = this;
    const counters = ctx.counters;
    switch (c.kind) {
      case 'get':
        // gat and gats are writes (touches), linearizable as every write is.
        sink.reply(c.variant === 'get' || c.variant === 'gets' ? afterReadBarrier(ctx, () => executeGet(ctx, c), serverError) : executeGet(ctx, c));
        return;
      case 'store': {
        ctx.prefixStats.recordSet(c.key);
        const result = ctx.engine.mutate({
          op: 'store', mode: c.mode, key: c.key, value: c.value, valueOwned: c.valueOwned, flags: c.flags, exptime: c.exptime,
          compareCas: c.mode === 'cas' ? c.cas : undefined,
        });
        this.replyUnlessQuiet(sink, c.noreply, formatResult(result, (r) => {
          // memcached counts a set once its value is read into an allocated item (-M: not always).
          if (r.status === 'NO_MEMORY') counters.store_no_memory++;
          else counters.cmd_set++;
          if (c.mode === 'cas') countCas(ctx, r.status);
          if (r.status === 'TOO_LARGE') counters.store_too_large++;
          return STORE_REPLIES[r.status];
        }));
        return;
      }
      case 'tooLarge':
        counters.store_too_large++;
        if (!c.meta) ctx.prefixStats.recordSet(c.key);
        // memcached drops the old item so a failed set cannot leave stale data behind.
        if (c.meta || c.mode === 'set') fireAndForget(ctx.engine.mutate({ op: 'delete', key: c.key }));
        this.replyUnlessQuiet(sink, c.noreply, line('SERVER_ERROR object too large for cache'));
        return;
      case 'badDataChunk':
        counters.cmd_set++;
        this.replyUnlessQuiet(sink, c.noreply, line('CLIENT_ERROR bad data chunk'));
        return;
      case 'arith': {
        const result = ctx.engine.mutate({ op: 'arith', key: c.key, incr: c.incr, delta: c.delta });
        this.replyUnlessQuiet(sink, c.noreply, formatResult(result, (r) => {
          switch (r.status) {
            case 'OK':
              if (c.incr) counters.incr_hits++; else counters.decr_hits++;
              return line(String(r.value));
            case 'NOT_FOUND':
              if (c.incr) counters.incr_misses++; else counters.decr_misses++;
              return NOT_FOUND;
            case 'NON_NUMERIC':
              return line('CLIENT_ERROR cannot increment or decrement non-numeric value');
            case 'NO_MEMORY':
              return line('SERVER_ERROR out of memory');
            case 'EXISTS':
              return EMPTY; // no CAS on text incr/decr: cannot happen
          }
        }));
        return;
      }
      case 'delete': {
        ctx.prefixStats.recordDelete(c.key);
        const result = ctx.engine.mutate({ op: 'delete', key: c.key });
        this.replyUnlessQuiet(sink, c.noreply, formatResult(result, (r) => {
          if (r.status === 'DELETED') {
            counters.delete_hits++;
            return DELETED;
          }
          counters.delete_misses++;
          return NOT_FOUND;
        }));
        return;
      }
      case 'touch': {
        const result = ctx.engine.mutate({ op: 'touch', key: c.key, exptime: c.exptime });
        this.replyUnlessQuiet(sink, c.noreply, formatResult(result, (r) => {
          counters.cmd_touch++;
          if (r.status === 'TOUCHED') {
            counters.touch_hits++;
            return TOUCHED;
          }
          counters.touch_misses++;
          return NOT_FOUND;
        }));
        return;
      }
      case 'flush': {
        if (this.flushCountedAndRefused(sink, c.noreply)) return;
        // A negative delay means "now", as memcached's flush_all treats it.
        const result = ctx.engine.mutate({ op: 'flush', delay: Math.max(0, c.delay) });
        this.replyUnlessQuiet(sink, c.noreply, formatResult(result, () => line('OK')));
        return;
      }
      case 'stats':
        sink.reply(this.stats(c.words));
        return;
      case 'version':
        sink.reply(line(`VERSION ${ctx.version}`));
        return;
      case 'verbosity':
        ctx.setVerbosity(c.level);
        this.replyUnlessQuiet(sink, c.noreply, line('OK'));
        return;
      case 'quit':
        this.close(sink, 'quit');
        return;
      case 'refreshCerts': {
        // memcached: OK (quiet under noreply); an error line even under noreply, as is "not enabled".
        const outcome = ctx.refreshCerts?.() ?? { ok: false, line: 'Error TLS not enabled' };
        if (!(outcome.ok && c.noreply)) sink.reply(line(outcome.line));
        return;
      }
      case 'metadump':
        if (ctx.dumpDisabled) sink.reply(METADUMP_NOT_ALLOWED);
        else {
          // A slow reader gets the dump as fast as it reads, not all of it in memory at once.
          const pause = this.sink.outputRoom?.bind(this.sink);
          for (const chunk of ctx.metadump(c.classes === 'all' ? undefined : new Set(c.classes), pause)) sink.reply(chunk);
        }
        return;
      case 'watch':
        // memcached checks -W before the types; without a connection to stream to (in-process
        // use) there is nothing to watch with.
        sink.reply(ctx.watchDisabled ? WATCH_NOT_ALLOWED : line('ERROR'));
        return;
      case 'crawler':
        sink.reply(line(crawlerReply(ctx, c)));
        return;
      case 'memlimit':
        if (c.megabytes < MEMLIMIT_MIN_MB) this.replyUnlessQuiet(sink, c.noreply, MEMLIMIT_TOO_SMALL);
        else if (c.megabytes > MEMLIMIT_MAX_MB) this.replyUnlessQuiet(sink, c.noreply, MEMLIMIT_NOT_BYTES);
        else {
          ctx.setMemoryLimit(c.megabytes * 1024 * 1024);
          this.replyUnlessQuiet(sink, c.noreply, line('OK'));
        }
        return;
      case 'shutdown':
        // memcached checks -A first, then the mode; noreply is not a mode and gets no silence.
        if (ctx.shutdown === undefined) sink.reply(SHUTDOWN_NOT_ENABLED);
        else if (c.mode === 'invalid') sink.reply(INVALID_SHUTDOWN_MODE);
        else {
          this.close(sink, 'shutdown command');
          ctx.shutdown(`shutdown${c.mode === 'graceful' ? ' graceful' : ''} command received`);
        }
        return;
      case 'reply':
        // A flush_all with a bad delay: -F refuses it before looking at its delay.
        if (c.count === 'cmd_flush' && this.flushCountedAndRefused(sink, c.noreply)) return;
        this.replyUnlessQuiet(sink, c.noreply, line(c.line));
        return;
      case 'close':
        this.close(sink, c.reason);
        return;
      case 'mg': case 'ms': case 'md': case 'ma': case 'me': {
        const out = executeMeta(ctx, c);
        if (out !== undefined) sink.reply(out);
        return;
      }
    }
  }

  private stats(words: string[]): Buffer {
    const { ctx } = this;
    if (words.length === 0) return statsReply(ctx.stats('') ?? []);
    const sub = words[0];
    switch (sub) {
      case 'reset':
        ctx.resetStats();
        return line('RESET');
      case 'detail':
        if (words.length < 2) return line('CLIENT_ERROR usage: stats detail on|off|dump');
        if (words[1] === 'on' || words[1] === 'off') {
          ctx.prefixStats.enabled = words[1] === 'on';
          return line('OK');
        }
        if (words[1] === 'dump') return Buffer.from(ctx.prefixStats.dump(), 'latin1');
        return line('CLIENT_ERROR usage: stats detail on|off|dump');
      case 'cachedump': {
        // memcached checks -X before the arguments.
        if (ctx.dumpDisabled) return line('CLIENT_ERROR stats cachedump not allowed');
        if (words.length < 3) return line('CLIENT_ERROR bad command line');
        const classId = safeStrtoul(words[1]);
        const limit = safeStrtoul(words[2]);
        if (classId === undefined || limit === undefined) return line('CLIENT_ERROR bad command line format');
        if (classId > MAX_SLAB_CLASS_ID) return line('CLIENT_ERROR Illegal slab id');
        return Buffer.from(ctx.cachedump(classId, limit), 'latin1');
      }
      case 'sizes_enable': case 'sizes_disable':
        // memcached answers these with the status lines alone, no END.
        return statLines(ctx.setSizesTracking(sub === 'sizes_enable'));
      case 'settings': case 'items': case 'slabs': case 'conns': case 'sizes': case 'mu': {
        const pairs = ctx.stats(sub as StatsGroup);
        return pairs === undefined ? line('ERROR') : statsReply(pairs);
      }
      default:
        return line('ERROR');
    }
  }

  /**
   * Every flush_all counts in cmd_flush, refused or not (memcached logs refused flushes in its
   * stats); under -F it is refused here. True if it was.
   */
  private flushCountedAndRefused(sink: ReplySink, noreply: boolean): boolean {
    this.ctx.counters.cmd_flush++;
    if (!this.ctx.flushDisabled) return false;
    this.replyUnlessQuiet(sink, noreply, FLUSH_NOT_ALLOWED);
    return true;
  }

  private replyUnlessQuiet(sink: ReplySink, noreply: boolean, bytes: ReturnType<typeof formatResult>): void {
    // The engine call already happened; a quiet command only drops its reply. A pending one still
    // holds its place (empty), so the next command waits for it like after any other write.
    if (noreply) {
      if (bytes instanceof Promise) sink.reply(bytes.then(() => EMPTY, () => EMPTY));
      return;
    }
    sink.reply(bytes);
  }

  private close(sink: ReplySink, reason: string): void {
    this.closed = true;
    sink.closeAfterReplies(reason);
  }
}

export const createAsciiHandler: HandlerFactory = (ctx, sink) => new AsciiHandler(ctx, sink);
