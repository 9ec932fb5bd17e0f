/** noop, version, flush and stat over the binary protocol. */
import type { ServerContext, StatsGroup } from '../context';
import { whenReady, type MaybePromise } from '../cache/types';
import { Status } from '../../protocol/binary/constants';
import type { BinaryRequest } from '../../protocol/binary/commands';
import { encodeResponse, encodeStats } from '../../protocol/binary/encode';
import { failure, success } from './binary-reply';

export function handleVersion(ctx: ServerContext, req: BinaryRequest): Buffer {
  return success(req, { value: Buffer.from(ctx.version, 'latin1') });
}

/**
 * Flush with an optional 4-byte expiration extra (a delay, by exptime rules; 0 = now). Under -F,
 * memcached 1.6.18 answers an auth error ("Auth failure."), quiet form included, and does not count it.
 */
export function handleFlush(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  if (ctx.flushDisabled) return failure(req, Status.AUTH_ERROR);
  const delay = req.extras.length === 4 ? req.extras.readUInt32BE(0) : 0;
  return whenReady(ctx.engine.mutate({ op: 'flush', delay }), () => {
    ctx.counters.cmd_flush++;
    return success(req);
  });
}

/**
 * memcached 1.6.18 matches "reset", "settings" and "detail" as prefixes of the key and the other
 * groups exactly; anything else, including "conns" (text protocol only), is "Not found".
 */
export function handleStat(ctx: ServerContext, req: BinaryRequest): Buffer {
  const { opcode, opaque } = req.header;
  const name = req.key.toString('latin1');
  if (name === '') return encodeStats(opcode, opaque, ctx.stats('') ?? []);
  if (name.startsWith('reset')) {
    ctx.resetStats();
    return encodeResponse({ opcode, opaque });
  }
  if (name.startsWith('detail')) return detailStat(ctx, req, name.slice('detail'.length));
  // memcached sends no terminator after these, leaving a binary client waiting: this one ends them.
  if (name === 'sizes_enable' || name === 'sizes_disable') return encodeStats(opcode, opaque, ctx.setSizesTracking(name === 'sizes_enable'));
  let group: StatsGroup | undefined;
  if (name.startsWith('settings')) group = 'settings';
  else if (name === 'items' || name === 'slabs' || name === 'sizes' || name === 'mu') group = name;
  const pairs = group === undefined ? undefined : ctx.stats(group);
  return pairs === undefined ? failure(req, Status.KEY_ENOENT) : encodeStats(opcode, opaque, pairs);
}

/**
 * `stat detail on|off|dump` (memcached matches each word as a prefix of what follows "detail"): on
 * and off answer the empty terminator alone, dump one stat "detailed" holding the text dump.
 */
function detailStat(ctx: ServerContext, req: BinaryRequest, rest: string): Buffer {
  const { opcode, opaque } = req.header;
  if (rest.startsWith(' dump')) return encodeStats(opcode, opaque, [['detailed', ctx.prefixStats.dump()]]);
  if (rest.startsWith(' on') || rest.startsWith(' off')) {
    ctx.prefixStats.enabled = rest.startsWith(' on');
    return encodeResponse({ opcode, opaque });
  }
  return failure(req, Status.KEY_ENOENT);
}
