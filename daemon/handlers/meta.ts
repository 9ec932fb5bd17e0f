/**
 * Meta commands (mg, ms, md, ma, me) as memcached 1.6.18 answers them. Return flags are echoed
 * in request order; `q` hides only the nominal reply (EN for mg; HD for ms/md; HD/VA for ma).
 */
import type { ItemView, MaybePromise, MetaGetResult, StoreMode, StoreResult } from '../cache/types';
import type { ServerContext } from '../context';
import type { AsciiCommand } from '../../protocol/ascii/commands';
import { EMPTY, line, metaKeyFlag, metaReply } from '../../protocol/ascii/encode';
import type { MetaFlags } from '../../protocol/ascii/meta-flags';
import { absoluteExptime } from '../cache/decide';
import { countCas, formatResult, nowSec, serverError } from './ascii-reply';
import { afterReadBarrier } from './linearizable-read';
import { metaDebugLine } from './meta-debug';

type MetaCommand = Extract<AsciiCommand, { kind: 'mg' | 'ms' | 'md' | 'ma' | 'me' }>;

/** Reply bytes, or undefined when `q` suppressed the reply entirely. */
export function executeMeta(ctx: ServerContext, c: MetaCommand): MaybePromise<Buffer> | undefined {
  switch (c.kind) {
    case 'mg': return metaGet(ctx, c.key, c.flags);
    case 'ms': return metaSet(ctx, c.key, c.flags, c.value);
    case 'md': return metaDelete(ctx, c.key, c.flags);
    case 'ma': return metaArith(ctx, c.key, c.flags);
    case 'me':
      return afterReadBarrier(ctx, () => {
        ctx.counters.cmd_meta++;
        const item = ctx.engine.get(c.key, false);
        return item ? line(metaDebugLine(ctx, item, item.keyBinary)) : line('EN');
      }, serverError);
  }
}

/** Remaining TTL as meta `t` reports it: -1 for never. */
function ttlText(exptimeSec: number): string {
  return exptimeSec === 0 ? '-1' : String(exptimeSec - nowSec());
}

/** O and k: the only flags echoed when there is no item to describe. */
function opaqueAndKey(flags: MetaFlags, key: Buffer): string {
  let text = '';
  for (const t of flags.tokens) {
    if (t[0] === 'O') text += ' ' + t;
    else if (t[0] === 'k') text += metaKeyFlag(key, flags.binaryKey);
  }
  return text;
}

function quietEmpty(quiet: boolean, bytes: Buffer): Buffer {
  return quiet ? EMPTY : bytes;
}

/**
 * An mg without T, N or R reads, like get: from this node's copy (through the read barrier under
 * `--reads linearizable`), so meta clients in a cluster cost no log entry per read. Only an item
 * that carries win-token state (stale, or a token already out) goes to the decider, which hands
 * out win tokens in one place (the leader, in a cluster), as do T, N and R, which change the item.
 */
function metaGet(ctx: ServerContext, key: Buffer, flags: MetaFlags): MaybePromise<Buffer> {
  if (flags.touchExptime !== undefined || flags.vivifyExptime !== undefined || flags.recacheSec !== undefined) return decidedMetaGet(ctx, key, flags);
  return afterReadBarrier(ctx, () => {
    // Looked at first without any effect, so that the read below is one fetch either way (one LRU
    // bump, one watch line), as memcached's mg is.
    const seen = ctx.engine.peek(key);
    if (seen !== undefined && (seen.stale || seen.winTokenSent)) return decidedMetaGet(ctx, key, flags);
    const item = ctx.engine.get(key, !flags.noUpdate);
    return metaGetReply(ctx, key, flags, { item, win: false, winTokenAlreadySent: false, stale: false, vivified: false });
  }, serverError);
}

function decidedMetaGet(ctx: ServerContext, key: Buffer, flags: MetaFlags): MaybePromise<Buffer> {
  const result = ctx.engine.mutate({
    op: 'metaGet', key, touchExptime: flags.touchExptime, vivifyExptime: flags.vivifyExptime,
    recacheBelowSec: flags.recacheSec, noBump: flags.noUpdate,
    touchBeforeRecache: flags.tokens.findIndex((t) => t[0] === 'T') < flags.tokens.findIndex((t) => t[0] === 'R'),
  });
  return formatResult(result, (r) => metaGetReply(ctx, key, flags, r));
}

function metaGetReply(ctx: ServerContext, key: Buffer, flags: MetaFlags, r: MetaGetResult): Buffer {
  const counters = ctx.counters;
  let item = r.item;
  if (!item && r.vivified) item = vivifiedView(key, flags.vivifyExptime ?? 0);
  if (!item) {
    counters.cmd_get++;
    counters.get_misses++;
    return quietEmpty(flags.quiet, metaReply('EN', opaqueAndKey(flags, key)));
  }
  if (flags.touchExptime !== undefined) {
    counters.cmd_touch++;
    counters.touch_hits++;
  } else {
    counters.cmd_get++;
    counters.get_hits++;
  }
  // memcached applies T and N where they stand among the flags, so `t` before them reports the
  // expiry from before (a vivified item has none until N is reached).
  let exptimeSec = r.vivified ? 0 : item.exptimeSec;
  let text = '';
  for (const t of flags.tokens) {
    switch (t[0]) {
      case 'T': exptimeSec = absoluteExptime(flags.touchExptime ?? 0, nowSec()); break;
      case 'N': if (r.vivified) exptimeSec = item.exptimeSec; break;
      case 's': text += ` s${item.value.length}`; break;
      case 't': text += ` t${ttlText(exptimeSec)}`; break;
      case 'c': text += ` c${item.cas}`; break;
      case 'f': text += ` f${item.flags}`; break;
      case 'l': text += ` l${Math.max(0, nowSec() - item.lastAccessSec)}`; break;
      case 'h': text += ` h${item.fetchedBefore ? 1 : 0}`; break;
      case 'O': text += ' ' + t; break;
      case 'k': text += metaKeyFlag(item.key, item.keyBinary); break;
    }
  }
  if (r.winTokenAlreadySent) text += ' Z';
  if (r.stale) text += ' X';
  if (r.win) text += ' W';
  return flags.value ? metaReply(`VA ${item.value.length}`, text, item.value) : metaReply('HD', text);
}

/** The empty item N creates, when the engine reports the vivification without the item. */
function vivifiedView(key: Buffer, exptime: number): ItemView {
  const now = nowSec();
  return {
    key, value: Buffer.alloc(0), flags: 0, exptimeSec: exptime > 0 ? now + exptime : 0, cas: 0n,
    lastAccessSec: now, fetchedBefore: false, stale: false, winTokenSent: true, keyBinary: false,
  };
}

const MS_MODES: Record<string, StoreMode> = { E: 'add', A: 'append', P: 'prepend', R: 'replace', S: 'set' };
const MS_STATUS: Record<StoreResult['status'], string> = {
  STORED: 'HD', EXISTS: 'EX', NOT_FOUND: 'NF', NOT_STORED: 'NS',
  TOO_LARGE: 'SERVER_ERROR object too large for cache', NO_MEMORY: 'SERVER_ERROR out of memory storing object',
};

function metaSet(ctx: ServerContext, key: Buffer, flags: MetaFlags, value: Buffer): MaybePromise<Buffer> | undefined {
  let mode: StoreMode = flags.mode === undefined ? 'set' : MS_MODES[flags.mode];
  const hasCas = flags.compareCas !== undefined;
  // memcached upgrades set/replace with C to a CAS store; append/prepend compare it too; add ignores it.
  if (hasCas && (mode === 'set' || mode === 'replace')) mode = 'cas';
  const result = ctx.engine.mutate({
    op: 'store', mode, key, value, flags: flags.clientFlags, exptime: flags.touchExptime ?? 0, keyBinary: flags.binaryKey,
    compareCas: flags.compareCas,
    invalidate: mode === 'cas' && flags.invalidate ? true : undefined,
    // memcached's ms drops the stored item when it cannot allocate the new one, whatever the mode.
    unlinkOnNoMemory: mode !== 'set' ? true : undefined,
  });
  return formatResult(result, (r) => {
    // memcached counts a set once its value is read into an allocated item (-M: not always).
    if (r.status === 'NO_MEMORY') ctx.counters.store_no_memory++;
    else ctx.counters.cmd_set++;
    if (mode === 'cas') countCas(ctx, r.status);
    if (r.status === 'TOO_LARGE') ctx.counters.store_too_large++;
    const status = MS_STATUS[r.status];
    if (r.status === 'TOO_LARGE' || r.status === 'NO_MEMORY') return line(status);
    if (r.status === 'STORED' && flags.quiet) return EMPTY;
    let text = '';
    for (const t of flags.tokens) {
      if (t[0] === 'O') text += ' ' + t;
      else if (t[0] === 'k') text += metaKeyFlag(key, flags.binaryKey);
      else if (t[0] === 'c') text += ` c${r.status === 'STORED' ? r.cas ?? 0n : 0n}`;
    }
    return metaReply(status, text);
  });
}

function metaDelete(ctx: ServerContext, key: Buffer, flags: MetaFlags): MaybePromise<Buffer> {
  const result = ctx.engine.mutate({
    op: 'delete', key, compareCas: flags.compareCas, invalidate: flags.invalidate || undefined,
    exptime: flags.invalidate ? flags.touchExptime : undefined,
  });
  return formatResult(result, (r) => {
    const echoed = opaqueAndKey(flags, key);
    if (r.status === 'DELETED') {
      if (!flags.invalidate) ctx.counters.delete_hits++;
      return quietEmpty(flags.quiet, metaReply('HD', echoed));
    }
    ctx.counters.delete_misses++;
    return metaReply(r.status === 'EXISTS' ? 'EX' : 'NF', echoed);
  });
}

function metaArith(ctx: ServerContext, key: Buffer, flags: MetaFlags): MaybePromise<Buffer> {
  const incr = flags.mode === undefined || flags.mode === 'I' || flags.mode === '+';
  const vivify = flags.vivifyExptime !== undefined;
  const result = ctx.engine.mutate({
    op: 'arith', key, incr, delta: flags.delta,
    create: vivify ? { initial: flags.initial, exptime: flags.vivifyExptime ?? 0 } : undefined,
    compareCas: flags.compareCas === 0n ? undefined : flags.compareCas,
  });
  return formatResult(result, (r) => {
    switch (r.status) {
      case 'NON_NUMERIC':
        return line('CLIENT_ERROR cannot increment or decrement non-numeric value');
      case 'NO_MEMORY':
        return line(r.creating ? 'SERVER_ERROR Out of memory allocating new item' : 'SERVER_ERROR out of memory');
      case 'EXISTS':
        return metaReply('EX', opaqueAndKey(flags, key));
      case 'NOT_FOUND':
        if (incr) ctx.counters.incr_misses++; else ctx.counters.decr_misses++;
        return metaReply('NF', opaqueAndKey(flags, key));
      case 'OK':
        break;
    }
    const created = r.created === true;
    if (!created) {
      if (incr) ctx.counters.incr_hits++; else ctx.counters.decr_hits++;
    }
    if (flags.touchExptime !== undefined) {
      // memcached sets the new TTL on the item it just changed; here it is a separate touch.
      const touched = ctx.engine.mutate({ op: 'touch', key, exptime: flags.touchExptime });
      if (touched instanceof Promise) touched.catch(() => undefined);
    }
    if (flags.quiet && !created) return EMPTY;
    const valueText = String(r.value ?? 0n);
    let text = '';
    for (const t of flags.tokens) {
      switch (t[0]) {
        case 'c': text += ` c${r.cas ?? r.item?.cas ?? 0n}`; break;
        case 't': text += ` t${r.item ? ttlText(r.item.exptimeSec) : '-1'}`; break;
        case 'O': text += ' ' + t; break;
        case 'k': text += metaKeyFlag(key, flags.binaryKey); break;
      }
    }
    return flags.value
      ? metaReply(`VA ${valueText.length}`, text, Buffer.from(valueText, 'latin1'))
      : metaReply('HD', text);
  });
}
