/**
 * The Wing-Gong search with Lowe's memoisation, over one segment of one key's history: every
 * complete way to linearize the segment's operations from a start state, collecting the states it
 * can end in. An operation may be linearized once every operation that returned before it was
 * invoked has been; (linearized set, state) pairs already explored are never explored again.
 *
 * The linearized set is keyed by a 64-bit Zobrist hash (two 32-bit halves) rather than the full
 * bit set, so a step costs O(1); two different sets colliding under one state is a 2^-64 event per
 * pair and could at worst hide a violation, never invent one. The explored pairs live in a typed
 * hash table (visited-set.ts), no string or JS Set per step.
 *
 * Unknown outcomes multiply the configurations: each one in flight may have been applied or not,
 * so k of them make up to 2^k linearized sets per register state; after one fault (16 unknown ops
 * in a segment of 3,000) the search took 185M steps, after another over 200M. Four exact rules
 * keep that down, all resting on one fact: a configuration (set L, state s) with an unknown op u
 * still pending can do all that (L + u, s) can, by dropping u at its horizon.
 * - An unknown op whose effect here is none (a cas on a stale value) is not applied: (L + u, s)
 *   is dominated by the current configuration.
 * - An unknown set is not applied right after an unknown op was: the set alone, with that op
 *   pending, ends in the same state.
 * - Dominance: (L + u, s) is not explored when (L, s) was explored to the end already, nor when
 *   (L, s) was itself dominated. A configuration in the memo is explored to the end unless it is on
 *   the search's stack, and the only one there that differs from (L + u, s) by one op is its
 *   parent, which the test leaves out.
 * - Order: at each configuration the search first linearizes the known ops, then the unknown ones,
 *   then drops an unknown op at its horizon: the branches that leave unknown ops pending come
 *   first, so that those they dominate meet them in the memo.
 */
import { Op, isUnknown } from './history';
import { RegState, step } from './register-model';
import { VisitedSet } from './visited-set';

export interface SegmentOp {
  op: Op;
  /** The return time the search uses: an unknown outcome's horizon, or Infinity. */
  effectiveReturnMs: number;
}

export interface Blocked {
  /** How many operations were linearized at the deepest point of the search. */
  depth: number;
  /** The operation whose return was reached without it being linearizable (null: none recorded). */
  op: Op | null;
  state: RegState;
}

export interface SegmentResult {
  endStates: RegState[];
  /** The work bound was hit: endStates is incomplete. */
  gaveUp: boolean;
  steps: number;
  deepest: Blocked;
}

interface Entry {
  opIndex: number;
  isCall: boolean;
  timeMs: number;
}

interface Frame {
  entry: number;
  prevState: RegState;
  /** The op was dropped at its horizon (unknown outcome, never took effect), not applied. */
  dropped: boolean;
  /** The walk's pass when the op was lifted (see `unknownPass`): backtracking resumes in it. */
  unknownPass: boolean;
}

function makeZobrist(n: number, seed: number): Uint32Array {
  const z = new Uint32Array(n * 2);
  let s = seed >>> 0;
  for (let i = 0; i < z.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    z[i] = (t ^ (t >>> 14)) >>> 0;
  }
  return z;
}

export function searchSegment(ops: SegmentOp[], startStates: RegState[], maxSteps: number): SegmentResult {
  const entries: Entry[] = [];
  ops.forEach((o, i) => {
    entries.push({ opIndex: i, isCall: true, timeMs: o.op.invokeMs });
    entries.push({ opIndex: i, isCall: false, timeMs: o.effectiveReturnMs });
  });
  // At equal times calls come first: the two operations count as concurrent (clock resolution
  // cannot order them), which never reports a violation that did not happen.
  entries.sort((a, b) => a.timeMs - b.timeMs || (a.isCall === b.isCall ? a.opIndex - b.opIndex : a.isCall ? -1 : 1));
  const n = entries.length;
  const retOf = new Int32Array(ops.length);
  const callOf = new Int32Array(ops.length);
  entries.forEach((e, i) => { if (e.isCall) callOf[e.opIndex] = i; else retOf[e.opIndex] = i; });
  const unknown = ops.map((o) => isUnknown(o.op));
  const unknownCount = unknown.filter((u) => u).length;
  const zobrist = makeZobrist(ops.length, 0x9e3779b9);

  const stateIds = new Map<RegState, number>();
  const stateId = (s: RegState): number => {
    let id = stateIds.get(s);
    if (id === undefined) { id = stateIds.size; stateIds.set(s, id); }
    return id;
  };
  const seen = new VisitedSet();
  const ends = new Set<RegState>();
  let steps = 0;
  let gaveUp = false;
  const deepest: Blocked = { depth: -1, op: null, state: null };

  for (const start of startStates) {
    // A doubly linked list over entry indices; n is the head sentinel, -1 the end.
    const next = new Int32Array(n + 1);
    const prev = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i === 0 ? n : i - 1; }
    next[n] = n > 0 ? 0 : -1;
    const unlink = (i: number): void => { next[prev[i]] = next[i]; if (next[i] !== -1) prev[next[i]] = prev[i]; };
    const relink = (i: number): void => { next[prev[i]] = i; if (next[i] !== -1) prev[next[i]] = i; };
    let hashHi = 0;
    let hashLo = 0;
    let state: RegState = start;
    const stack: Frame[] = [];
    let cur = next[n];
    // The walk over the callable ops makes two passes: known ops first, then (unknownPass) the
    // unknown ones, of which pendingUnknown are not linearized yet.
    let unknownPass = false;
    let pendingUnknown = unknownCount;
    // The unknown ops linearized (applied or dropped) on the current path, for the dominance test.
    const linearizedUnknown = new Int32Array(unknownCount);
    let linearizedUnknownCount = 0;

    /** Lifts op `opIndex` (call entry `call`) into the linearization with the register at `to`. */
    const lift = (call: number, opIndex: number, to: RegState, dropped: boolean, h1: number, h2: number): void => {
      stack.push({ entry: call, prevState: state, dropped, unknownPass });
      unlink(call);
      unlink(retOf[opIndex]);
      hashHi = h1;
      hashLo = h2;
      state = to;
      cur = next[n];
      unknownPass = false;
      if (unknown[opIndex]) { linearizedUnknown[linearizedUnknownCount++] = opIndex; pendingUnknown--; }
    };
    /** Undoes lifts up to and including the last applied one; cur moves past its call entry. */
    const backtrack = (): boolean => {
      for (;;) {
        const f = stack.pop();
        if (f === undefined) return false;
        const e = entries[f.entry];
        // Relink in reverse order of unlinking: the return entry, then the call.
        relink(retOf[e.opIndex]);
        relink(f.entry);
        hashHi ^= zobrist[e.opIndex * 2];
        hashLo ^= zobrist[e.opIndex * 2 + 1];
        state = f.prevState;
        if (unknown[e.opIndex]) { linearizedUnknownCount--; pendingUnknown++; }
        // A drop was forced (the horizon passed): undo further.
        if (f.dropped) continue;
        cur = next[f.entry];
        unknownPass = f.unknownPass;
        return true;
      }
    };
    /**
     * Whether (set + op, to), hash h1:h2, is dominated: the same with one unknown op u pending is in
     * the memo. Only a u whose horizon comes after op's call can be pending there; u = op gives
     * (set, to), the current configuration (on the stack) when `to` is the current state.
     */
    const dominated = (opIndex: number, to: RegState, id: number, h1: number, h2: number): boolean => {
      if (unknown[opIndex] && to !== state && seen.has(hashHi, hashLo, id)) return true;
      const call = callOf[opIndex];
      for (let k = 0; k < linearizedUnknownCount; k++) {
        const u = linearizedUnknown[k];
        if (retOf[u] > call && seen.has(h1 ^ zobrist[u * 2], h2 ^ zobrist[u * 2 + 1], id)) return true;
      }
      return false;
    };
    /**
     * Whether `op` is an unknown set right after an unknown op u was applied: u then the set ends
     * where the set alone does, with u linearized, which the set from the parent with u still
     * pending (or after u's drop, when u's horizon blocks the set there) dominates.
     */
    const overwritesUnknown = (op: Op): boolean => {
      if (op.kind !== 'set' || !unknownPass || stack.length === 0) return false;
      const top = stack[stack.length - 1];
      return !top.dropped && unknown[entries[top.entry].opIndex];
    };
    /** Lifts unless (set + op, to) was explored already or is dominated; returns whether it lifted. */
    const tryLift = (call: number, opIndex: number, to: RegState, dropped: boolean): boolean => {
      const h1 = hashHi ^ zobrist[opIndex * 2];
      const h2 = hashLo ^ zobrist[opIndex * 2 + 1];
      const id = stateId(to);
      if (dominated(opIndex, to, id, h1, h2)) {
        // Counted as explored: what it dominates in turn is then dominated too.
        seen.add(h1, h2, id);
        return false;
      }
      if (!seen.add(h1, h2, id)) return false;
      lift(call, opIndex, to, dropped, h1, h2);
      return true;
    };

    for (;;) {
      if (++steps > maxSteps) { gaveUp = true; break; }
      if (next[n] === -1) {
        ends.add(state);
        if (!backtrack()) break;
        continue;
      }
      if (cur === -1) { if (!backtrack()) break; continue; }
      const e = entries[cur];
      const so = ops[e.opIndex];
      if (!e.isCall) {
        // The first return still pending ends a pass: the known ops were tried, now the unknown.
        if (!unknownPass && pendingUnknown > 0) { unknownPass = true; cur = next[n]; continue; }
        // The horizon of an unknown outcome: it never took effect.
        if (unknown[e.opIndex]) {
          if (!tryLift(callOf[e.opIndex], e.opIndex, state, true) && !backtrack()) break;
          continue;
        }
        if (stack.length > deepest.depth) {
          deepest.depth = stack.length;
          deepest.op = so.op;
          deepest.state = state;
        }
        if (!backtrack()) break;
        continue;
      }
      if (unknown[e.opIndex] !== unknownPass) { cur = next[cur]; continue; }
      const to = step(state, so.op);
      // An unknown op that would change nothing here (a cas on a stale value, a delete of nothing)
      // is not applied: a drop at its horizon does the same later and leaves every order open.
      const noOp = to === state && unknown[e.opIndex];
      if (to === undefined || noOp || overwritesUnknown(so.op) || !tryLift(cur, e.opIndex, to, false)) cur = next[cur];
    }
    if (gaveUp) break;
  }
  // The step that crossed the bound was not taken.
  return { endStates: [...ends], gaveUp, steps: Math.min(steps, maxSteps), deepest };
}
