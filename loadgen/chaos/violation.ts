/**
 * A readable account of why one key's history is not linearizable: the operation the search could
 * not place, the state the register must have held, the write that put it there, and the window of
 * operations involved (the failing segment, trimmed to those that overlap that write and that op).
 */
import { Op, describeOp, isUnknown } from './history';
import { RegState, apply, canonical, explain } from './register-model';
import { Blocked } from './wgl-search';

export interface Violation {
  key: string;
  /** The operation that could not be linearized (null if the search recorded none). */
  blockedOp: Op | null;
  /** One sentence: what was returned, when, and which completed write contradicts it. */
  why: string;
  /** The operations involved, in invocation order. */
  window: Op[];
  /** States the register could hold when the failing segment began. */
  possibleStartStates: RegState[];
}

const WINDOW_MAX_OPS = 30;

const changes = (op: Op): boolean => op.kind !== 'get';

/** The write that completed last before `op` was invoked: the value a read must at least see. */
function lastCompletedWriteBefore(op: Op, keyOps: Op[]): Op | null {
  let best: Op | null = null;
  for (const w of keyOps) {
    if (!changes(w) || isUnknown(w) || w.returnMs >= op.invokeMs || w.id === op.id) continue;
    if (w.kind === 'cas' && w.result !== 'STORED') continue;
    if (w.kind === 'delete' && w.result !== 'DELETED') continue;
    if (best === null || w.returnMs > best.returnMs) best = w;
  }
  return best;
}

function writtenValue(w: Op): string | null {
  if (w.kind === 'delete') return null;
  if (w.kind === 'incr') return canonical(w.result);
  return canonical(w.value);
}

export function describeViolation(key: string, segment: Op[], keyOps: Op[], startStates: RegState[], deepest: Blocked): Violation {
  const blocked = deepest.op;
  if (blocked === null) {
    return { key, blockedOp: null, why: `no order of the ${segment.length} operations explains their results`, window: segment.slice(0, WINDOW_MAX_OPS), possibleStartStates: startStates };
  }
  const w = lastCompletedWriteBefore(blocked, keyOps);
  const at = (ms: number): string => `t=${ms.toFixed(3)} ms`;
  const got = canonical(blocked.result);
  const shown = (v: string | null): string => (v === null ? 'a miss' : JSON.stringify(v));
  let why: string;
  if (w !== null) {
    const must = writtenValue(w);
    const verb = w.kind === 'delete' ? `delete #${w.id}` : `${w.kind} #${w.id} of ${shown(must)}`;
    const expected = apply(must, blocked).output;
    why = `${blocked.kind} #${blocked.id} returned ${shown(got)} at ${at(blocked.returnMs)} (invoked ${at(blocked.invokeMs)}) after ${verb} completed at ${at(w.returnMs)}`
      + (canonical(expected) !== got ? `; from that value it should have returned ${shown(expected)}` : '')
      + `; no order of the concurrent operations explains it (deepest search: ${explain(deepest.state, blocked)})`;
  } else {
    why = `${blocked.kind} #${blocked.id} (invoked ${at(blocked.invokeMs)}): ${explain(deepest.state, blocked)}, and no order of the concurrent operations explains it`;
  }
  const from = w !== null ? Math.min(w.invokeMs, blocked.invokeMs) : blocked.invokeMs;
  const to = blocked.returnMs;
  const window = segment
    .filter((op) => op.invokeMs <= to && (isUnknown(op) || op.returnMs >= from))
    .filter((op) => op.id !== w?.id && op.id !== blocked.id);
  const involved = [...(w !== null ? [w] : []), ...window, blocked]
    .sort((a, b) => a.invokeMs - b.invokeMs || a.id - b.id)
    .slice(0, WINDOW_MAX_OPS);
  return { key, blockedOp: blocked, why, window: involved, possibleStartStates: startStates };
}

export function formatViolation(v: Violation): string {
  const lines = [`key ${JSON.stringify(v.key)}: ${v.why}`, `  operations involved:`];
  for (const op of v.window) lines.push(`    ${op.id === v.blockedOp?.id ? '>' : ' '} ${describeOp(op)}`);
  return lines.join('\n');
}
