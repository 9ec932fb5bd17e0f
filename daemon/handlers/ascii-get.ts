/**
 * get / gets / gat / gats over many keys. The reply is assembled only once every key is known:
 * memcached answers a line holding an over-long key with a lone CLIENT_ERROR, dropping the
 * values it had found (it still looked them up and counted them).
 */
import type { ItemView, MaybePromise, TouchResult } from '../cache/types';
import type { ServerContext } from '../context';
import type { AsciiCommand } from '../../protocol/ascii/commands';
import { END, line, valuesReply } from '../../protocol/ascii/encode';
import { formatResult } from './ascii-reply';

type GetCommand = Extract<AsciiCommand, { kind: 'get' }>;

/** Value bytes one multi-get reply may carry (a 256-key get of 1 MiB items still fits). */
export const MAX_GET_REPLY_VALUE_BYTES = 256 * 1024 * 1024;
const OUT_OF_MEMORY = line('SERVER_ERROR out of memory writing get response');

export function executeGet(ctx: ServerContext, c: GetCommand): MaybePromise<Buffer> {
  const touch = c.variant === 'gat' || c.variant === 'gats';
  const withCas = c.variant === 'gets' || c.variant === 'gats';
  const counters = ctx.counters;
  const found: Array<MaybePromise<ItemView | undefined>> = [];
  let pending = false;
  for (const key of c.keys) {
    if (touch) {
      const r = ctx.engine.mutate({ op: 'touch', key, exptime: c.exptime });
      const item = r instanceof Promise ? r.then(countTouch(ctx, key)) : countTouch(ctx, key)(r);
      if (item instanceof Promise) pending = true;
      found.push(item);
    } else {
      const item = ctx.engine.get(key);
      counters.cmd_get++;
      if (item) counters.get_hits++; else counters.get_misses++;
      ctx.prefixStats.recordGet(key, item !== undefined);
      found.push(item);
    }
  }
  const format = (items: Array<ItemView | undefined>): Buffer => {
    if (c.keyTooLong) return line('CLIENT_ERROR bad command line format');
    let valueBytes = 0;
    for (const item of items) if (item) valueBytes += item.value.length;
    // One line may name the same large item thousands of times (a 6 KB line, gigabytes of reply):
    // past the bound the reply is refused with the error memcached gives when it cannot build one.
    if (valueBytes > MAX_GET_REPLY_VALUE_BYTES) return OUT_OF_MEMORY;
    const hits: ItemView[] = [];
    for (const item of items) if (item) hits.push(item);
    return hits.length === 0 ? END : valuesReply(hits, withCas);
  };
  if (!pending) return format(found as Array<ItemView | undefined>);
  return formatResult(Promise.all(found), format);
}

/** gat/gats count as touches, and per prefix as gets (memcached's stats detail does). */
function countTouch(ctx: ServerContext, key: Buffer): (r: TouchResult) => ItemView | undefined {
  return (r) => {
    ctx.counters.cmd_touch++;
    if (r.status === 'TOUCHED') ctx.counters.touch_hits++; else ctx.counters.touch_misses++;
    ctx.prefixStats.recordGet(key, r.status === 'TOUCHED');
    return r.item;
  };
}
