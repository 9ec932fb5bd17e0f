/**
 * Shared helpers for the ASCII handlers: turning a possibly-pending engine result into reply
 * bytes, and mapping an engine failure to the SERVER_ERROR line a client can act on.
 */
import type { MaybePromise, StoreResult } from '../cache/types';
import type { ServerContext } from '../context';
import { line } from '../../protocol/ascii/encode';

/** Format `result` with `f`; a rejected engine call becomes a SERVER_ERROR reply, never a throw. */
export function formatResult<T>(result: MaybePromise<T>, f: (value: T) => Buffer): MaybePromise<Buffer> {
  // A pending result gets one reaction for both outcomes (a replicated write is pending: this is
  // per write), and a throw in `f` is a SERVER_ERROR as for a ready result.
  if (result instanceof Promise) return result.then((value: T) => formatOrServerError(f, value), serverError);
  return formatOrServerError(f, result);
}

function formatOrServerError<T>(f: (value: T) => Buffer, value: T): Buffer {
  try {
    return f(value);
  } catch (err) {
    return serverError(err);
  }
}

export function serverError(err: unknown): Buffer {
  const message = err instanceof Error ? err.message : String(err);
  return line(`SERVER_ERROR ${message.replace(/[\r\n]+/g, ' ')}`);
}

/** Unix seconds, the clock meta TTLs (t, me exp=) are reported against. */
export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

/** Run an engine call whose result nobody reads, without leaving a rejection unhandled. */
export function fireAndForget(result: MaybePromise<unknown>): void {
  if (result instanceof Promise) result.catch(() => undefined);
}

/** memcached's CAS counters, for text `cas` and meta `ms` in CAS mode. */
export function countCas(ctx: ServerContext, status: StoreResult['status']): void {
  if (status === 'STORED') ctx.counters.cas_hits++;
  else if (status === 'EXISTS') ctx.counters.cas_badval++;
  else if (status === 'NOT_FOUND') ctx.counters.cas_misses++;
}
