/**
 * The sequential specification of one memcached key as a register: its state is the value (null
 * when absent). Values written are unique, so a cas is modelled by value: the CAS unique a client
 * sent belongs to exactly the value its `gets` returned, and every change of the item (set, cas,
 * incr) changes the value too (incr deltas are positive and sets never repeat a value).
 */
import { Op, isUnknown } from './history';

export type RegState = string | null;

const U64_MASK = (1n << 64n) - 1n;

/**
 * memcached writes an incr result in place, padding with spaces when it has fewer digits than the
 * old value; numbers compare by their digits.
 */
export function canonical(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  return /^\d+ +$/.test(v) ? v.trimEnd() : v;
}

function incrResult(state: RegState, delta: string): RegState | 'NON_NUMERIC' {
  if (state === null) return null;
  if (!/^\d{1,20}$/.test(state)) return 'NON_NUMERIC';
  const n = BigInt(state);
  if (n > U64_MASK) return 'NON_NUMERIC';
  return ((n + BigInt(delta)) & U64_MASK).toString();
}

/** The state after the op applied to `state` and the output a correct server returns. */
export function apply(state: RegState, op: Op): { next: RegState; output: string | null } {
  switch (op.kind) {
    case 'set':
      return { next: canonical(op.value), output: 'STORED' };
    case 'get':
      return { next: state, output: state };
    case 'delete':
      return state === null ? { next: null, output: 'NOT_FOUND' } : { next: null, output: 'DELETED' };
    case 'cas':
      if (state === null) return { next: null, output: 'NOT_FOUND' };
      return state === canonical(op.expected) ? { next: canonical(op.value), output: 'STORED' } : { next: state, output: 'EXISTS' };
    case 'incr': {
      const r = incrResult(state, op.value ?? '0');
      if (r === 'NON_NUMERIC') return { next: state, output: 'NON_NUMERIC' };
      return { next: r, output: r };
    }
  }
}

/**
 * The state after linearizing `op` at `state`, or undefined when its recorded output is impossible
 * there. An op of unknown outcome always applies here: the search handles "never took effect"
 * itself, by dropping the op when its horizon passes (a drop has no effect, so dropping it at the
 * last moment allows everything an earlier drop would).
 */
export function step(state: RegState, op: Op): RegState | undefined {
  const { next, output } = apply(state, op);
  if (isUnknown(op)) return next;
  return canonical(op.result) === output ? next : undefined;
}

/** Why `op` cannot be linearized when the register holds `state` (for violation reports). */
export function explain(state: RegState, op: Op): string {
  const { output } = apply(state, op);
  const shown = (v: string | null): string => (v === null ? 'nothing (a miss)' : JSON.stringify(v));
  return `${op.kind} returned ${shown(canonical(op.result))} where the register held ${shown(state)}, so it should have returned ${shown(output)}`;
}
