/**
 * What each request is: the three old clients differ only here. Keys are drawn uniformly from the
 * run's keyspace with the seeded generator; the preload walks the keyspace once, in order.
 */
import type { Rng } from './rng';
import { OP_GET, OP_SET, Op } from './wire/requests';

export type ClientMode = 'puts-only' | 'gets-only' | 'puts-gets';
export const CLIENT_MODES: readonly ClientMode[] = ['puts-only', 'gets-only', 'puts-gets'];

export interface OpPicker {
  /** Chooses the next request; read `op` and `key` after calling. */
  pick(): void;
  op: Op;
  key: number;
}

export function randomOps(mode: ClientMode, keyCount: number, getRatio: number, rng: Rng): OpPicker {
  const ratio = mode === 'gets-only' ? 1 : mode === 'puts-only' ? 0 : getRatio;
  const picker: OpPicker = {
    op: OP_SET,
    key: 0,
    pick() {
      picker.op = ratio >= 1 ? OP_GET : ratio <= 0 ? OP_SET : rng.next() < ratio ? OP_GET : OP_SET;
      picker.key = rng.below(keyCount);
    },
  };
  return picker;
}

/**
 * Sets keys part, part + parts, part + 2*parts, ... once each: what gets-only needs before its
 * gets can all hit. With `parts` workers each taking one part, every key is set exactly once.
 */
export function preloadOps(keyCount: number, part = 0, parts = 1): { picker: OpPicker; count: number } {
  let next = part;
  const picker: OpPicker = {
    op: OP_SET,
    key: 0,
    pick() {
      picker.key = next % keyCount;
      next += parts;
    },
  };
  return { picker, count: part < keyCount ? Math.ceil((keyCount - part) / parts) : 0 };
}
