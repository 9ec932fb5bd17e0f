/**
 * Random binary-protocol requests for the differential test, including quiet forms, CAS compares,
 * incr/decr with initial values, and malformed requests memcached answers with an error status.
 */
import { arithExtras, encodeRequest, Op, storeExtras, u32Extras } from './binpkt';
import { key251, pickExptime, pickFlags, pickKey, pickNumber, pickValue } from './diffData';
import type { CasBook, GenCmd, GenEnv } from './diffTextGen';

/** Opaques are unique per run so a response can be traced to its request and key. */
let opaqueCounter = 1;
export function resetOpaques(): void {
  opaqueCounter = 1;
}

function req(opcode: number, key: Buffer, extras: Buffer, value: Buffer, casFn?: (c: CasBook) => bigint): GenCmd {
  const opaque = opaqueCounter++;
  return {
    build: (cas) => encodeRequest({ opcode, key, extras, value, opaque, cas: casFn ? casFn(cas) : 0n }),
    opaqueKeys: [[opaque, key.toString('latin1')]],
  };
}

/** CAS for a binary request: none (most), the one this server returned, or a wrong one. */
function binCas(env: GenEnv, key: Buffer): ((c: CasBook) => bigint) | undefined {
  const how = env.rng.weighted<string>([[70, 'none'], [20, 'known'], [10, 'off']]);
  if (how === 'none') return undefined;
  const k = key.toString('latin1');
  return (c) => (c.get(k) ?? 1n) + (how === 'off' ? 1n : 0n);
}

function quiet(env: GenEnv, loud: number, q: number): number {
  return env.rng.chance(0.3) ? q : loud;
}

export function binaryCommand(env: GenEnv): GenCmd {
  const { rng } = env;
  const { key, invalid } = pickKey(rng, { allowInvalid: process.env.DIFF_NO_CLOSE !== '1', allowOdd: true });
  const cmd = binaryCommandFor(env, key);
  // memcached answers a key over 250 bytes, bad extras or a missing key with EINVAL, then closes.
  if (invalid || cmd.closes) return { ...cmd, closes: true };
  return cmd;
}

function closing(cmd: GenCmd): GenCmd {
  return { ...cmd, closes: true };
}

function binaryCommandFor(env: GenEnv, key: Buffer): GenCmd {
  const { rng } = env;
  const which = rng.weighted<string>([
    [22, 'get'], [22, 'store'], [6, 'concat'], [8, 'delete'], [10, 'arith'], [6, 'touch'], [6, 'gat'],
    [2, 'flush'], [2, 'noop'], [2, 'version'], [1, 'stat'], [process.env.DIFF_NO_CLOSE === '1' ? 0 : 2, 'badextras'], [1, 'unknown'], [process.env.DIFF_NO_CLOSE === '1' ? 0 : 1, 'emptykey'],
  ]);
  switch (which) {
    case 'get': {
      const op = rng.pick([Op.get, Op.getq, Op.getk, Op.getkq]);
      return req(op, key, Buffer.alloc(0), Buffer.alloc(0));
    }
    case 'store': {
      const op = rng.pick([Op.set, Op.set, Op.add, Op.replace, Op.setq, Op.addq, Op.replaceq]);
      const value = key.toString().startsWith('n') && rng.chance(0.7) ? pickNumber(rng) : pickValue(rng, env.maxItemBytes);
      return req(op, key, storeExtras(pickFlags(rng), pickExptime(rng, env.nowSec)), value, binCas(env, key));
    }
    case 'concat': {
      const op = rng.pick([Op.append, Op.prepend, Op.appendq, Op.prependq]);
      return req(op, key, Buffer.alloc(0), pickValue(rng, env.maxItemBytes), binCas(env, key));
    }
    case 'delete':
      return req(quiet(env, Op.delete, Op.deleteq), key, Buffer.alloc(0), Buffer.alloc(0), binCas(env, key));
    case 'arith': {
      const incr = rng.chance(0.5);
      const op = incr ? quiet(env, Op.incr, Op.incrq) : quiet(env, Op.decr, Op.decrq);
      const delta = rng.weighted<bigint>([[60, 1n], [20, BigInt(rng.range(2, 1000))], [10, 0xffffffffffffffffn], [10, 0n]]);
      const initial = rng.weighted<bigint>([[60, 0n], [20, 10n], [20, 0xffffffffffffffffn]]);
      const exptime = rng.weighted<number>([[50, 0xffffffff], [40, 0], [10, 1000]]);
      return req(op, key, arithExtras(delta, initial, exptime), Buffer.alloc(0), binCas(env, key));
    }
    case 'touch':
      return req(Op.touch, key, u32Extras(pickExptime(rng, env.nowSec)), Buffer.alloc(0));
    case 'gat': {
      const op = rng.pick([Op.gat, Op.gatq, Op.gatk, Op.gatkq]);
      return req(op, key, u32Extras(pickExptime(rng, env.nowSec)), Buffer.alloc(0));
    }
    case 'flush':
      return req(quiet(env, Op.flush, Op.flushq), Buffer.alloc(0), rng.chance(0.3) ? u32Extras(0) : Buffer.alloc(0), Buffer.alloc(0));
    case 'noop':
      return req(Op.noop, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0));
    case 'version':
      return req(Op.version, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0));
    case 'stat':
      return req(Op.stat, rng.chance(0.5) ? Buffer.alloc(0) : Buffer.from(rng.pick(['settings', 'items', 'bogus'])), Buffer.alloc(0), Buffer.alloc(0));
    case 'badextras': {
      // A get with extras, a set without extras, a touch without extras: memcached says EINVAL.
      const bad = rng.pick([
        () => req(Op.get, key, u32Extras(5), Buffer.alloc(0)),
        () => req(Op.set, key, Buffer.alloc(0), Buffer.from('v')),
        () => req(Op.touch, key, Buffer.alloc(0), Buffer.alloc(0)),
        () => req(Op.incr, key, u32Extras(1), Buffer.alloc(0)),
        () => req(Op.set, key251, storeExtras(0, 0), Buffer.from('v')),
      ]);
      return closing(bad());
    }
    case 'unknown':
      // No key: memcached 1.6.18 mis-swallows an unknown command's key and then stalls.
      return req(rng.pick([0x50, 0x3f, 0xfe]), Buffer.alloc(0), Buffer.alloc(0), rng.chance(0.5) ? Buffer.from('body') : Buffer.alloc(0));
    default:
      return closing(req(rng.pick([Op.get, Op.set, Op.delete]), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)));
  }
}

export function binGetk(key: Buffer): GenCmd {
  return req(Op.getk, key, Buffer.alloc(0), Buffer.alloc(0));
}

export function binCasSet(key: Buffer, value: Buffer, casFn: (c: CasBook) => bigint): GenCmd {
  return req(Op.set, key, storeExtras(0, 0), value, casFn);
}
