/** memcached's -I syntax: bytes, or a number with k/m suffix. */
export function parseSize(text: string): number {
  const match = /^(\d+)([kKmM]?)$/.exec(text.trim());
  if (!match) throw new Error(`invalid size '${text}': use bytes, or a number followed by k or m (e.g. 1m)`);
  const n = Number(match[1]);
  const unit = match[2].toLowerCase();
  return unit === 'k' ? n * 1024 : unit === 'm' ? n * 1024 * 1024 : n;
}
