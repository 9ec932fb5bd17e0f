/**
 * memcached's slab classes, which mucached does not allocate from but reports in (stats items and
 * slabs, metadump's cls, cachedump's and the crawler's class ids, watch's clsid): chunk sizes from 96
 * bytes growing by 1.25, 8-byte aligned, up to half of -I, at most 63 classes.
 */

/** memcached's MAX_NUMBER_OF_SLAB_CLASSES - 1: the highest class id. */
export const MAX_SLAB_CLASS_ID = 63;

/** Chunk size of each class; class id = index + 1. */
export function slabClassSizes(itemSizeMaxBytes: number): number[] {
  const sizes: number[] = [];
  const chunkMax = Math.floor(itemSizeMaxBytes / 2);
  let size = 96;
  while (size < chunkMax / 1.25 && sizes.length < MAX_SLAB_CLASS_ID) {
    sizes.push(size);
    size = Math.ceil((size * 1.25) / 8) * 8;
  }
  sizes.push(chunkMax);
  return sizes;
}

/** The class an item of `bytes` would live in; items over the largest chunk are chunked into the largest class. */
export function slabClassOf(bytes: number, sizes: number[]): number {
  // The first class whose chunk holds it (sizes ascend): a binary search, since a store computes one per set.
  let lo = 0;
  let hi = sizes.length - 1;
  if (bytes > sizes[hi]) return sizes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sizes[mid] >= bytes) hi = mid;
    else lo = mid + 1;
  }
  return lo + 1;
}

/** A class-of function for this -I. */
export function slabClassifier(itemSizeMaxBytes: number): (bytes: number) => number {
  const sizes = slabClassSizes(itemSizeMaxBytes);
  return (bytes) => slabClassOf(bytes, sizes);
}
