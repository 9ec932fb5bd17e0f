/**
 * Linearizability of a recorded history against the register model, key by key (a history is
 * linearizable iff each key's sub-history is). Each key's operations are cut into segments at the
 * quiet moments when none is in flight; a segment is searched from every state the previous one
 * can end in (so the cut loses nothing), which keeps each search small.
 *
 * Unknown outcomes: with `unknownHorizonMs` = Infinity (the default) such an operation stays in
 * flight to the end of the history. A finite horizon asserts that no request takes effect later
 * than that after it was sent (the daemon answers or drops a request well within it), which lets
 * segments close again after a fault.
 *
 * Work bounds: one segment's search may take exponential time, so each segment has its own step
 * bound, and the whole history one more that bounds the checking time. (A bound per key, shared by
 * all its segments, did not grow with the history: a long run could spend it on easy segments.)
 * Past either bound the verdict is "gave up", naming the key and the segment it stopped in.
 */
import { isUnknown, Op } from './history';
import { RegState, canonical } from './register-model';
import { SegmentOp, searchSegment } from './wgl-search';
import { Violation, describeViolation } from './violation';

export const DEFAULT_MAX_STEPS_PER_SEGMENT = 5_000_000;
export const DEFAULT_MAX_STEPS_TOTAL = 100_000_000;

export interface CheckOptions {
  unknownHorizonMs?: number;
  /** Bound on the search steps of one segment; past it the key's verdict is "gave up". */
  maxStepsPerSegment?: number;
  /** Bound on the search steps of the whole history, all keys together (checking time). */
  maxStepsTotal?: number;
  /** The state of every key before the history (default: absent). */
  initial?: RegState;
}

/** Where and why the check of a key stopped without a verdict. */
export interface GaveUp {
  /** 'segment': this segment alone exceeded maxStepsPerSegment; 'total': maxStepsTotal ran out in it. */
  bound: 'segment' | 'total';
  /** 1-based, in time order among the key's segments. */
  segment: number;
  ops: number;
  unknownOps: number;
  /** The segment's first invocation and its last (effective) return. */
  fromMs: number;
  toMs: number;
  /** Steps spent on this segment before stopping. */
  steps: number;
}

export interface KeyVerdict {
  key: string;
  verdict: 'linearizable' | 'violation' | 'gave-up';
  ops: number;
  segments: number;
  steps: number;
  violation?: Violation;
  gaveUp?: GaveUp;
}

export interface CheckResult {
  verdict: 'linearizable' | 'violation' | 'gave-up';
  keys: KeyVerdict[];
  /** Operations held to linearizability (weak reads excluded). */
  checkedOps: number;
  weakReads: number;
  violations: Violation[];
  /** Search steps over all keys. */
  steps: number;
}

/** `stepsLeft`: what remains of the history's total bound when this key starts. */
export function checkKey(key: string, ops: Op[], o: CheckOptions = {}, stepsLeft = o.maxStepsTotal ?? DEFAULT_MAX_STEPS_TOTAL): KeyVerdict {
  const horizon = o.unknownHorizonMs ?? Infinity;
  const perSegment = o.maxStepsPerSegment ?? DEFAULT_MAX_STEPS_PER_SEGMENT;
  const timed: SegmentOp[] = ops
    .map((op) => ({ op, effectiveReturnMs: op.returnMs === Infinity ? op.invokeMs + horizon : op.returnMs }))
    .sort((a, b) => a.op.invokeMs - b.op.invokeMs || a.op.id - b.op.id);
  let states: RegState[] = [canonical(o.initial ?? null)];
  let steps = 0;
  let segments = 0;
  for (let i = 0; i < timed.length;) {
    let j = i + 1;
    let maxReturn = timed[i].effectiveReturnMs;
    // Cut only where the next invocation comes strictly after every return so far.
    while (j < timed.length && timed[j].op.invokeMs <= maxReturn) { maxReturn = Math.max(maxReturn, timed[j].effectiveReturnMs); j++; }
    const segment = timed.slice(i, j);
    segments++;
    const bound = stepsLeft - steps < perSegment ? 'total' : 'segment';
    const r = searchSegment(segment, states, Math.max(0, Math.min(perSegment, stepsLeft - steps)));
    steps += r.steps;
    if (r.gaveUp) {
      const gaveUp: GaveUp = {
        bound, segment: segments, ops: segment.length, unknownOps: segment.filter((s) => isUnknown(s.op)).length,
        fromMs: segment[0].op.invokeMs, toMs: maxReturn, steps: r.steps,
      };
      return { key, verdict: 'gave-up', ops: ops.length, segments, steps, gaveUp };
    }
    if (r.endStates.length === 0) {
      const violation = describeViolation(key, segment.map((s) => s.op), ops, states, r.deepest);
      return { key, verdict: 'violation', ops: ops.length, segments, steps, violation };
    }
    states = r.endStates;
    i = j;
  }
  return { key, verdict: 'linearizable', ops: ops.length, segments, steps };
}

export function checkHistory(history: Op[], o: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, Op[]>();
  let weakReads = 0;
  let unknownReads = 0;
  for (const op of history) {
    if (op.weak === true && op.kind === 'get') { weakReads++; continue; }
    // A read whose reply never came changes nothing and shows nothing: it fits anywhere, so it is
    // left out (kept, it would double the search's states for as long as it stays in flight).
    if (op.kind === 'get' && isUnknown(op)) { unknownReads++; continue; }
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  let stepsLeft = o.maxStepsTotal ?? DEFAULT_MAX_STEPS_TOTAL;
  const keys: KeyVerdict[] = [];
  // Once the total bound is spent, each key left gives up in its first segment, having taken no step.
  for (const [k, ops] of [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const v = checkKey(k, ops, o, stepsLeft);
    stepsLeft -= v.steps;
    keys.push(v);
  }
  const violations = keys.flatMap((k) => (k.violation ? [k.violation] : []));
  const verdict = violations.length > 0 ? 'violation' : keys.some((k) => k.verdict === 'gave-up') ? 'gave-up' : 'linearizable';
  const steps = keys.reduce((sum, k) => sum + k.steps, 0);
  return { verdict, keys, checkedOps: history.length - weakReads - unknownReads, weakReads, violations, steps };
}
