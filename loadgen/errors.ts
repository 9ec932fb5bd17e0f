/**
 * Errors counted by kind and always reported: a benchmark that hides failed requests reports a
 * throughput the server never delivered.
 */
export type ErrorKind =
  | 'timeout' | 'server_error' | 'client_error' | 'error' | 'miss' | 'not_stored' | 'exists' | 'not_found'
  | 'unexpected_reply' | 'connection';

export type ErrorCounts = Partial<Record<ErrorKind, number>>;

export function addError(counts: ErrorCounts, kind: ErrorKind, n = 1): void {
  counts[kind] = (counts[kind] ?? 0) + n;
}

export function totalErrors(counts: ErrorCounts): number {
  let total = 0;
  for (const k of Object.keys(counts) as ErrorKind[]) total += counts[k] ?? 0;
  return total;
}

export function formatErrors(counts: ErrorCounts): string {
  const parts = (Object.keys(counts) as ErrorKind[]).filter((k) => (counts[k] ?? 0) > 0).map((k) => `${k}=${counts[k]}`);
  return parts.length === 0 ? 'none' : parts.join(' ');
}
