/**
 * `stats sizes`: how many stored items have each size, in memcached's 32-byte buckets (an item of
 * 61 bytes counts under 64), over memcached's item size (stats-report's mem_requested per item).
 *
 * memcached keeps it only when asked (`stats sizes_enable`, or `-o track_sizes` from the start),
 * and does not walk the cache when asked: it counts the items stored from then on, recognising them
 * by their CAS unique (at least the next one at the time it was enabled), so an item stored
 * earlier is neither counted nor uncounted. Without CAS (-C) it cannot, and refuses.
 */
import type { ItemStore, StoredItem } from './store';

export const SIZE_BUCKET_BYTES = 32;

export class SizeHistogram {
  private readonly counts = new Map<number, number>();

  /** `casMin`: items with a CAS unique below it were stored before and are not counted. */
  constructor(private readonly casMin: bigint) {}

  added(item: StoredItem): void {
    if (item.cas < this.casMin) return;
    const bucket = bucketOf(item.bytes);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
  }

  removed(item: StoredItem): void {
    if (item.cas < this.casMin) return;
    const bucket = bucketOf(item.bytes);
    const left = (this.counts.get(bucket) ?? 0) - 1;
    if (left < 0) throw new Error(`size histogram invariant: bucket ${bucket} would go below zero`);
    if (left === 0) this.counts.delete(bucket);
    else this.counts.set(bucket, left);
  }

  /** Every counted item went at once (flush_all without a delay, a snapshot installed). */
  clear(): void {
    this.counts.clear();
  }

  /** The non-empty buckets, smallest first, as `stats sizes` lists them. */
  buckets(): Array<[number, number]> {
    return [...this.counts].sort((a, b) => a[0] - b[0]);
  }
}

function bucketOf(itemBytes: number): number {
  return Math.ceil(itemBytes / SIZE_BUCKET_BYTES) * SIZE_BUCKET_BYTES;
}

/** `stats sizes_enable|sizes_disable` on `store`: memcached's status lines. */
export function sizesTracking(store: ItemStore, on: boolean): Array<[string, string]> {
  if (!on) {
    store.disableSizes();
    return [['sizes_status', 'disabled']];
  }
  const outcome = store.enableSizes();
  return outcome === 'enabled' ? [['sizes_status', 'enabled']] : [['sizes_status', 'error'], ['sizes_error', outcome]];
}
