/**
 * `me <key>`: memcached's debug line. exp/la are relative seconds; cls/size describe where
 * memcached's slab allocator would keep this item, derived from the item-size limit.
 */
import type { ItemView } from '../cache/types';
import type { ServerContext } from '../context';
import { casBytesFor, itemBytes } from '../cache/store';
import { slabClassSizes } from '../cache/slab-classes';
import { encodeBase64Key } from '../../protocol/ascii/base64';
import { nowSec } from './ascii-reply';

export function metaDebugLine(ctx: ServerContext, item: ItemView, binaryKey: boolean): string {
  const now = nowSec();
  // memcached prints current_time - exptime (so a future expiry is negative) through a 32-bit int.
  const exp = item.exptimeSec === 0 ? -1 : (now - item.exptimeSec) | 0;
  const casBytes = casBytesFor(ctx.engine.casEnabled);
  const size = itemBytes(item.key.length, item.flags, item.value.length, casBytes);
  const itemSizeMax = ctx.engine.maxValueBytes(0, 0) + itemBytes(0, 0, 0, casBytes);
  const classes = slabClassSizes(itemSizeMax);
  let cls = classes.findIndex((s) => size <= s) + 1;
  if (cls === 0) cls = classes.length;
  const key = binaryKey ? encodeBase64Key(item.key) : item.key.toString('latin1');
  return `ME ${key} exp=${exp} la=${Math.max(0, now - item.lastAccessSec)} cas=${item.cas} fetch=${item.fetchedBefore ? 'yes' : 'no'} cls=${cls} size=${size}`;
}
