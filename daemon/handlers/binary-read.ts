/** get/getk(q) and touch/gat/gatk(q): memcached's process_bin_get_or_touch. */
import type { ServerContext } from '../context';
import { whenReady, type ItemView, type MaybePromise } from '../cache/types';
import { Opcode, Status } from '../../protocol/binary/constants';
import type { BinaryRequest } from '../../protocol/binary/commands';
import { encodeItem, encodeKeyMiss } from '../../protocol/binary/encode';
import { engineFailure, failure, NO_REPLY } from './binary-reply';
import { afterReadBarrier } from './linearizable-read';

export function handleGet(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  return afterReadBarrier(ctx, () => {
    const item = ctx.engine.get(req.key);
    ctx.counters.cmd_get++;
    if (item) ctx.counters.get_hits++;
    else ctx.counters.get_misses++;
    ctx.prefixStats.recordGet(req.key, item !== undefined);
    return itemReply(req, item);
  }, (err) => engineFailure(req, err));
}

/**
 * touch, gat, gatk: counted as touches only (binary gat does not count as a get in memcached), but
 * per prefix as gets (stats detail), touch included.
 */
export function handleTouch(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  const exptime = req.extras.readUInt32BE(0);
  return whenReady(ctx.engine.mutate({ op: 'touch', key: req.key, exptime }), (result) => {
    ctx.counters.cmd_touch++;
    if (result.status === 'TOUCHED') ctx.counters.touch_hits++;
    else ctx.counters.touch_misses++;
    ctx.prefixStats.recordGet(req.key, result.status === 'TOUCHED');
    return itemReply(req, result.status === 'TOUCHED' ? result.item : undefined);
  });
}

function itemReply(req: BinaryRequest, item: ItemView | undefined): Buffer {
  const withKey = req.command === Opcode.GETK || req.command === Opcode.GATK;
  const { opcode, opaque } = req.header;
  if (!item) {
    if (req.quiet) return NO_REPLY;
    return withKey ? encodeKeyMiss(opcode, opaque, req.key) : failure(req, Status.KEY_ENOENT);
  }
  return encodeItem(opcode, opaque, item, withKey ? req.key : undefined, req.command !== Opcode.TOUCH);
}
