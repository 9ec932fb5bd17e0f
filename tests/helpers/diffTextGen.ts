/**
 * Random text- and meta-protocol commands for the differential test. A command is a builder, not
 * fixed bytes: a `cas` command uses the CAS unique that *this* server last returned for the key,
 * so both servers see a semantically identical command even if their uniques differ.
 */
import { Rng } from './rng';
import { key250, pickDelta, pickExptime, pickFlags, pickKey, pickNumber, pickValue } from './diffData';

/** Per-server memory of the last CAS unique seen for each key (latin1 key string). */
export interface CasBook {
  get(key: string): bigint | undefined;
}

export interface GenCmd {
  build(cas: CasBook): Buffer;
  /** Binary requests only: opaque -> key, so CAS uniques in responses can be attributed. */
  opaqueKeys?: Array<[number, string]>;
  /** memcached closes the connection after answering this (binary protocol errors). Such a
   *  command ends its batch and the batch is written whole: replies queued before a close may
   *  otherwise be dropped, which memcached does not do deterministically. */
  closes?: boolean;
  /** How many "MN\r\n" replies this command produces (it is `mn`): the reader must not take
   *  one of them for the sentinel's. */
  mnReplies?: number;
  /** Carries `noreply`. memcached 1.6.18 sometimes answers, or drops the answer of, the commands
   *  around a noreply command whose batch arrives in several TCP reads; such batches are written
   *  whole. */
  noreply?: boolean;
}

export interface GenEnv {
  rng: Rng;
  nowSec: number;
  maxItemBytes: number;
}

const CRLF = Buffer.from('\r\n');

function line(...parts: Array<string | Buffer>): Buffer {
  const bufs: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) bufs.push(Buffer.from(' '));
    bufs.push(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  });
  bufs.push(CRLF);
  return Buffer.concat(bufs);
}

const fixed = (b: Buffer): GenCmd => ({ build: () => b });

/** Data that, if a server reads it as a command line, only yields ERROR. */
function harmless(rng: Rng): Buffer {
  return Buffer.from(rng.text(rng.range(1, 10), 'abcdef'), 'latin1');
}

/** Which CAS unique to send: the one this server gave us (usually), or a wrong/zero/huge one. */
export type CasArg = ((cas: CasBook) => string) & { bad: boolean };

export function casChoice(rng: Rng, key: Buffer): CasArg {
  const how = rng.weighted<string>([[65, 'known'], [15, 'off'], [8, 'zero'], [6, 'huge'], [6, 'bad']]);
  const k = key.toString('latin1');
  return Object.assign((cas: CasBook) => {
    const known = cas.get(k) ?? 1n;
    if (how === 'known') return String(known);
    if (how === 'off') return String(known + 1n);
    if (how === 'zero') return '0';
    if (how === 'huge') return '18446744073709551615';
    return 'x12';
  }, { bad: how === 'bad' });
}

function storage(env: GenEnv): GenCmd {
  const { rng } = env;
  const mode = rng.weighted<string>([[35, 'set'], [10, 'add'], [10, 'replace'], [10, 'append'], [10, 'prepend'], [15, 'cas']]);
  const { key, invalid } = pickKey(rng, { allowInvalid: true, allowOdd: true });
  const value = key.toString().startsWith('n') && rng.chance(0.7) ? pickNumber(rng) : pickValue(rng, env.maxItemBytes);
  const badFlags = rng.chance(0.03);
  const flags = badFlags ? '4294967296' : String(pickFlags(rng));
  const exptime = String(pickExptime(rng, env.nowSec));
  const noreply = rng.chance(0.15) ? ['noreply'] : [];
  // When the command line is bad or the declared length disagrees with the data, memcached reads
  // the data as the next command: keep it short plain text so that stays harmless and identical.
  const lenSkew = rng.chance(0.02) ? rng.pick([-1, 1, 3]) : 0;
  const negative = rng.chance(0.01);
  const casArg = mode === 'cas' ? casChoice(rng, key) : undefined;
  const data = lenSkew !== 0 || negative || invalid || badFlags || casArg?.bad ? harmless(rng) : value;
  const declared = negative ? '-1' : String(Math.max(0, data.length + lenSkew));
  // memcached reads declared+2 bytes as the data block even when that runs past the data; the
  // padding keeps the over-read away from the next command (it becomes empty lines: ERROR).
  const padding = lenSkew > 0 ? Buffer.from('\r\n\r\n\r\n') : Buffer.alloc(0);
  return {
    build: (cas) => Buffer.concat([
      line(mode, key, flags, exptime, declared, ...(casArg ? [casArg(cas)] : []), ...noreply),
      data, CRLF, padding,
    ]),
    noreply: noreply.length > 0,
  };
}

function retrieval(env: GenEnv): GenCmd {
  const { rng } = env;
  const cmd = rng.weighted<string>([[40, 'get'], [30, 'gets'], [8, 'gat'], [8, 'gats']]);
  const keys: Buffer[] = [];
  // Only get/gets may carry a line over 2 KiB: memcached closes other long lines that arrive split.
  const many = cmd === 'get' || cmd === 'gets' ? 40 : 5;
  const n = rng.weighted<number>([[70, 1], [20, rng.range(2, 5)], [2, 0], [3, many]]);
  // No over-long keys here: memcached 1.6.18 answers them by discarding the replies it has queued
  // but not yet sent (timing-dependent). tests/ascii/differential.test.ts covers them alone.
  for (let i = 0; i < n; i++) keys.push(pickKey(rng, { allowInvalid: false, allowOdd: true }).key);
  const args: Array<string | Buffer> = [cmd];
  if (cmd === 'gat' || cmd === 'gats') args.push(String(pickExptime(env.rng, env.nowSec)));
  return fixed(line(...args, ...keys));
}

function arith(env: GenEnv): GenCmd {
  const { rng } = env;
  const { key } = pickKey(rng, { allowInvalid: true, allowOdd: false });
  const noreply = rng.chance(0.1) ? ['noreply'] : [];
  return { ...fixed(line(rng.chance(0.5) ? 'incr' : 'decr', key, pickDelta(rng), ...noreply)), noreply: noreply.length > 0 };
}

function misc(env: GenEnv): GenCmd {
  const { rng } = env;
  const key = pickKey(rng, { allowInvalid: true, allowOdd: true }).key;
  const noreply = rng.chance(0.1) ? ['noreply'] : [];
  const cmd = miscFor(env, key, noreply);
  return { ...cmd, noreply: noreply.length > 0 };
}

function miscFor(env: GenEnv, key: Buffer, noreply: string[]): GenCmd {
  const { rng } = env;
  const which = rng.weighted<string>([
    [25, 'delete'], [3, 'delete0'], [2, 'delete5'], [15, 'touch'], [3, 'flush_all'], [1, 'flush_delay'],
    [1, 'flush_bad'], [3, 'version'], [2, 'verbosity'], [1, 'verbosity_bad'], [3, 'stats'], [1, 'stats_settings'],
    [1, 'stats_items'], [1, 'stats_slabs'], [1, 'stats_reset'], [3, 'unknown'], [2, 'empty'], [2, 'get_nokey'],
    [2, 'set_badline'], [1, 'incr_nodelta'], [1, 'touch_noexp'],
  ]);
  switch (which) {
    case 'delete': return fixed(line('delete', key, ...noreply));
    case 'delete0': return fixed(line('delete', key, '0', ...noreply));
    case 'delete5': return fixed(line('delete', key, '5'));
    case 'touch': return fixed(line('touch', key, String(pickExptime(rng, env.nowSec)), ...noreply));
    case 'flush_all': return fixed(line('flush_all', ...noreply));
    // No delay in the future here: a delayed flush_all makes memcached 1.6.18 serve again the items
    // an earlier immediate flush had hidden but not yet reclaimed (its oldest_live check is skipped
    // while oldest_live lies ahead). mucached keeps flushed items gone; delays are unit-tested.
    case 'flush_delay': return fixed(line('flush_all', '0', ...noreply));
    case 'flush_bad': return fixed(line('flush_all', 'abc'));
    case 'version': return fixed(line('version'));
    case 'verbosity': return fixed(line('verbosity', rng.pick(['0', '1']), ...noreply));
    case 'verbosity_bad': return fixed(line('verbosity'));
    case 'stats': return fixed(line('stats'));
    case 'stats_settings': return fixed(line('stats', 'settings'));
    case 'stats_items': return fixed(line('stats', 'items'));
    case 'stats_slabs': return fixed(line('stats', 'slabs'));
    case 'stats_reset': return fixed(line('stats', 'reset'));
    case 'unknown': return fixed(line(rng.pick(['bogus', 'GET', 'sett', 'xyzzy 1 2 3'])));
    case 'empty': return fixed(CRLF);
    case 'get_nokey': return fixed(line(rng.pick(['get', 'gets', 'incr', 'delete', 'touch'])));
    case 'set_badline': return fixed(Buffer.concat([line('set', key, rng.pick(['abc', '0 0']), '0', '1'), Buffer.from('z\r\n')]));
    case 'incr_nodelta': return fixed(line('incr', key));
    default: return fixed(line('touch', key));
  }
}

function b64(rng: Rng, key: Buffer): { key: Buffer; flag: string[] } {
  return rng.chance(0.1) && key.length <= 180 ? { key: Buffer.from(key.toString('base64')), flag: ['b'] } : { key, flag: [] };
}

function metaGet(env: GenEnv): GenCmd {
  const { rng } = env;
  const k = b64(rng, pickKey(rng, { allowInvalid: true, allowOdd: false }).key);
  const flags = new Set<string>();
  for (const f of ['v', 'k', 'c', 'f', 's', 't', 'h', 'l', 'q']) if (rng.chance(f === 'q' ? 0.15 : 0.4)) flags.add(f);
  if (rng.chance(0.2)) flags.add(`O${rng.range(0, 99999)}`);
  if (rng.chance(0.08)) flags.add(`T${pickExptime(rng, env.nowSec)}`);
  if (rng.chance(0.08)) flags.add(`N${rng.pick([30, 1000])}`);
  if (rng.chance(0.05)) flags.add(`R${rng.pick([10, 5000])}`);
  if (rng.chance(0.03)) flags.add('E99');
  if (rng.chance(0.05)) flags.add('u');
  if (flags.has('c')) flags.add('k');
  return fixed(line('mg', k.key, ...k.flag, ...flags));
}

function metaSet(env: GenEnv): GenCmd {
  const { rng } = env;
  const picked = pickKey(rng, { allowInvalid: true, allowOdd: false });
  const rawKey = picked.key;
  const k = b64(rng, rawKey);
  const badLen = rng.chance(0.01);
  const value = picked.invalid || badLen ? harmless(rng)
    : rawKey.toString().startsWith('n') && rng.chance(0.7) ? pickNumber(rng) : pickValue(rng, env.maxItemBytes);
  const flags: string[] = [];
  if (rng.chance(0.4)) flags.push(`F${pickFlags(rng)}`);
  if (rng.chance(0.3)) flags.push(`T${pickExptime(rng, env.nowSec)}`);
  if (rng.chance(0.3)) flags.push('c', 'k');
  if (rng.chance(0.15)) flags.push('q');
  if (rng.chance(0.15)) flags.push(`O${rng.range(0, 999)}`);
  if (rng.chance(0.25)) flags.push(`M${rng.pick(['E', 'A', 'P', 'R', 'S', 'e', 'a', 'X'])}`);
  if (rng.chance(0.03)) flags.push('I');
  const casArg = rng.chance(0.15) ? casChoice(rng, rawKey) : undefined;
  const declared = badLen ? 'abc' : String(value.length);
  return {
    build: (cas) => Buffer.concat([line('ms', k.key, declared, ...k.flag, ...flags, ...(casArg ? [`C${casArg(cas)}`] : [])), value, CRLF]),
  };
}

function metaDelete(env: GenEnv): GenCmd {
  const { rng } = env;
  const rawKey = pickKey(rng, { allowInvalid: true, allowOdd: false }).key;
  const k = b64(rng, rawKey);
  const flags: string[] = [];
  if (rng.chance(0.2)) flags.push('q');
  if (rng.chance(0.2)) flags.push('k', `O${rng.range(0, 999)}`);
  if (rng.chance(0.05)) flags.push('I', `T${rng.pick([30, 1000])}`);
  const casArg = rng.chance(0.15) ? casChoice(rng, rawKey) : undefined;
  return { build: (cas) => line('md', k.key, ...k.flag, ...flags, ...(casArg ? [`C${casArg(cas)}`] : [])) };
}

function metaArith(env: GenEnv): GenCmd {
  const { rng } = env;
  const k = b64(rng, pickKey(rng, { allowInvalid: true, allowOdd: false }).key);
  const flags: string[] = [];
  if (rng.chance(0.5)) flags.push(`D${pickDelta(rng)}`);
  if (rng.chance(0.4)) flags.push(`M${rng.pick(['I', 'D', '+', '-', 'i', 'd', 'Q'])}`);
  if (rng.chance(0.2)) flags.push(`N${rng.pick([0, 1000])}`, `J${rng.pick(['0', '5', '18446744073709551615'])}`);
  if (rng.chance(0.5)) flags.push('v');
  if (rng.chance(0.2)) flags.push('t');
  if (rng.chance(0.2)) flags.push('c', 'k');
  if (rng.chance(0.15)) flags.push('q');
  if (rng.chance(0.1)) flags.push(`O${rng.range(0, 999)}`);
  return fixed(line('ma', k.key, ...k.flag, ...flags));
}

function metaOther(env: GenEnv): GenCmd {
  const { rng } = env;
  return rng.weighted<GenCmd>([
    [5, { build: () => line('mn'), mnReplies: 1 }],
    [2, fixed(line('me', rng.pick([Buffer.from('k1'), Buffer.from('n0'), key250])))],
    [1, fixed(line('mg'))],
    [1, fixed(line('mz', 'k1'))],
    [1, fixed(line('ms', 'k1'))],
  ]);
}

/** One random text or meta command. */
export function textCommand(env: GenEnv): GenCmd {
  const g = env.rng.weighted<(e: GenEnv) => GenCmd>([
    [28, storage], [22, retrieval], [9, arith], [10, misc],
    [9, metaGet], [8, metaSet], [4, metaDelete], [6, metaArith], [1, metaOther],
  ]);
  return g(env);
}

/** `gets` of one key, used to arm cas races. */
export function getsCommand(key: Buffer): GenCmd {
  return fixed(line('gets', key));
}

export function casCommand(key: Buffer, value: Buffer, casArg: CasArg): GenCmd {
  return { build: (cas) => Buffer.concat([line('cas', key, '0', '0', String(value.length), casArg(cas)), value, CRLF]) };
}

export function setCommand(key: Buffer, value: Buffer): GenCmd {
  return fixed(Buffer.concat([line('set', key, '0', '0', String(value.length)), value, CRLF]));
}
