/**
 * set/add/replace, append/prepend, delete and incr/decr over the binary protocol, replying and
 * counting as memcached 1.6.18's proto_bin.c does.
 */
import type { ServerContext } from '../context';
import { whenReady, type MaybePromise, type StoreMode, type StoreResult } from '../cache/types';
import { INCR_NO_CREATE_EXPTIME, Opcode, Status } from '../../protocol/binary/constants';
import type { BinaryRequest, BinaryTooLarge } from '../../protocol/binary/commands';
import { encodeCounter } from '../../protocol/binary/encode';
import { failure, NO_REPLY, success } from './binary-reply';

/** A reply that may itself wait on a second engine call. */
function flatten(reply: MaybePromise<MaybePromise<Buffer>>): MaybePromise<Buffer> {
  return reply instanceof Promise ? reply.then((inner) => inner) : reply;
}

/** A request CAS of 0 means "no comparison". */
function requestCas(req: BinaryRequest): bigint | undefined {
  return req.header.cas === 0n ? undefined : req.header.cas;
}

export function handleStore(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  ctx.prefixStats.recordSet(req.key);
  const flags = req.extras.readUInt32BE(0);
  const exptime = req.extras.readUInt32BE(4);
  // memcached turns any set/add/replace carrying a CAS into a compare-and-swap (NREAD_CAS), reading
  // the CAS back from the new item: under -C an item holds none, so the store stays what it was.
  const compareCas = ctx.engine.casEnabled === false ? undefined : requestCas(req);
  const mode: StoreMode = compareCas !== undefined ? 'cas'
    : req.command === Opcode.ADD ? 'add' : req.command === Opcode.REPLACE ? 'replace' : 'set';
  // A SET whose item cannot be allocated drops the stored one, CAS or not.
  const unlinkOnNoMemory = mode === 'cas' && req.command === Opcode.SET ? true : undefined;
  const pending = ctx.engine.mutate({ op: 'store', mode, key: req.key, value: req.value, flags, exptime, compareCas, unlinkOnNoMemory });
  return whenReady(pending, (result) => {
    if (result.status === 'NO_MEMORY') {
      // memcached fails the allocation before reading the value: not counted as a set.
      return failure(req, Status.ENOMEM, 'Out of memory allocating item');
    }
    if (result.status === 'TOO_LARGE') return failure(req, Status.E2BIG);
    ctx.counters.cmd_set++;
    if (mode === 'cas') countCas(ctx, result);
    switch (result.status) {
      case 'STORED': return success(req, { cas: result.cas });
      case 'EXISTS': return failure(req, Status.KEY_EEXISTS);
      case 'NOT_FOUND': return failure(req, Status.KEY_ENOENT);
      case 'NOT_STORED':
        if (mode === 'add') return failure(req, Status.KEY_EEXISTS);
        if (mode === 'replace') return failure(req, Status.KEY_ENOENT);
        return failure(req, Status.NOT_STORED);
    }
  });
}

function countCas(ctx: ServerContext, result: StoreResult): void {
  if (result.status === 'STORED') ctx.counters.cas_hits++;
  else if (result.status === 'EXISTS') ctx.counters.cas_badval++;
  else if (result.status === 'NOT_FOUND') ctx.counters.cas_misses++;
}

export function handleAppend(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  ctx.prefixStats.recordSet(req.key);
  const mode: StoreMode = req.command === Opcode.PREPEND ? 'prepend' : 'append';
  const pending = ctx.engine.mutate({
    op: 'store', mode, key: req.key, value: req.value, flags: 0, exptime: 0, compareCas: requestCas(req),
  });
  return whenReady(pending, (result) => {
    // As for set: the allocation failed before the value was read, so this is not counted as a set.
    if (result.status === 'NO_MEMORY') return failure(req, Status.ENOMEM, 'Out of memory allocating item');
    ctx.counters.cmd_set++;
    switch (result.status) {
      case 'STORED': return success(req, { cas: result.cas });
      case 'EXISTS': return failure(req, Status.KEY_EEXISTS);
      case 'NOT_FOUND': return failure(req, Status.KEY_ENOENT);
      default: return failure(req, Status.NOT_STORED);
    }
  });
}

/**
 * A store whose value is over the item size limit (its bytes were skipped). Like memcached, a
 * failed set must not leave the old value readable, so it is deleted first.
 */
export function handleTooLarge(ctx: ServerContext, cmd: BinaryTooLarge): MaybePromise<Buffer> {
  // Refused or not, a store counts per prefix (memcached records it before allocating).
  ctx.prefixStats.recordSet(cmd.key);
  const reply = failure(cmd, Status.E2BIG);
  if (cmd.command !== Opcode.SET) return reply;
  return whenReady(ctx.engine.mutate({ op: 'delete', key: cmd.key }), () => reply);
}

export function handleDelete(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  ctx.prefixStats.recordDelete(req.key);
  return whenReady(ctx.engine.mutate({ op: 'delete', key: req.key, compareCas: requestCas(req) }), (result) => {
    switch (result.status) {
      case 'DELETED':
        ctx.counters.delete_hits++;
        return success(req);
      case 'NOT_FOUND':
        ctx.counters.delete_misses++;
        return failure(req, Status.KEY_ENOENT);
      case 'EXISTS':
        return failure(req, Status.KEY_EEXISTS);
    }
  });
}

/**
 * incr/decr. A miss creates the item with the initial value unless the expiration is 0xffffffff;
 * like memcached this is a separate `add` after the failed delta, so a concurrent creator wins and
 * this request answers "Not stored.". Hit/miss counters follow memcached: a created item counts
 * as neither.
 */
export function handleArith(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  const incr = req.command === Opcode.INCREMENT;
  const delta = req.extras.readBigUInt64BE(0);
  const initial = req.extras.readBigUInt64BE(8);
  const exptime = req.extras.readUInt32BE(16);
  const pending = ctx.engine.mutate({ op: 'arith', key: req.key, incr, delta, compareCas: requestCas(req) });
  return flatten(whenReady(pending, (result): MaybePromise<Buffer> => {
    switch (result.status) {
      case 'OK':
        if (incr) ctx.counters.incr_hits++;
        else ctx.counters.decr_hits++;
        return counterReply(req, result.value ?? 0n, result.cas ?? 0n);
      case 'NON_NUMERIC': return failure(req, Status.DELTA_BADVAL);
      case 'EXISTS': return failure(req, Status.KEY_EEXISTS);
      case 'NO_MEMORY': return failure(req, Status.ENOMEM, 'Out of memory incrementing value');
      case 'NOT_FOUND':
        if (exptime === INCR_NO_CREATE_EXPTIME) {
          if (incr) ctx.counters.incr_misses++;
          else ctx.counters.decr_misses++;
          return failure(req, Status.KEY_ENOENT);
        }
        return createCounter(ctx, req, initial, exptime);
    }
  }));
}

function createCounter(ctx: ServerContext, req: BinaryRequest, initial: bigint, exptime: number): MaybePromise<Buffer> {
  const value = Buffer.from(initial.toString(), 'latin1');
  const pending = ctx.engine.mutate({ op: 'store', mode: 'add', key: req.key, value, flags: 0, exptime });
  return whenReady(pending, (result) => {
    if (result.status === 'STORED') return counterReply(req, initial, result.cas ?? 0n);
    if (result.status === 'NO_MEMORY') return failure(req, Status.ENOMEM, 'Out of memory allocating new item');
    return failure(req, Status.NOT_STORED);
  });
}

function counterReply(req: BinaryRequest, value: bigint, cas: bigint): Buffer {
  return req.quiet ? NO_REPLY : encodeCounter(req.header.opcode, req.header.opaque, value, cas);
}
