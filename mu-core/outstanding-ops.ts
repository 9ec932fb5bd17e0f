/**
 * The operations a node has posted and not yet seen complete, by work-request id. A leader posts
 * and completes a few operations per entry; a Map's set, get and delete (and the rehashing its
 * deletions cause) cost about 50 ns of a 1.4 us entry. Ids are handed out in sequence and mostly
 * complete in about that order, so each id has a home slot in a small ring; an id whose slot is
 * still held by an older operation (a read of a slow peer, say) waits in an overflow map instead.
 * Invariant: an id is in its home slot or in the overflow map, never both; `size` counts both.
 */
import type { OpTarget } from './ops';

const RING_SLOTS = 256;
const RING_MASK = RING_SLOTS - 1;

export class OutstandingOps {
  private readonly ids = new Float64Array(RING_SLOTS);
  private readonly ops: Array<OpTarget | undefined> = new Array<OpTarget | undefined>(RING_SLOTS).fill(undefined);
  private readonly overflow = new Map<number, OpTarget>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** `id` is not outstanding already (fabrics never reuse an id). */
  add(id: number, op: OpTarget): void {
    const home = (id >>> 0) & RING_MASK;
    if (this.ops[home] === undefined) {
      this.ids[home] = id;
      this.ops[home] = op;
    } else {
      this.overflow.set(id, op);
    }
    this.count++;
  }

  /** Removes and returns the operation of `id`; undefined if it is not outstanding here. */
  take(id: number): OpTarget | undefined {
    const home = (id >>> 0) & RING_MASK;
    const op = this.ops[home];
    if (op !== undefined && this.ids[home] === id) {
      this.ops[home] = undefined;
      this.count--;
      return op;
    }
    if (this.overflow.size === 0) return undefined;
    const late = this.overflow.get(id);
    if (late === undefined) return undefined;
    this.overflow.delete(id);
    this.count--;
    return late;
  }

  clear(): void {
    this.ops.fill(undefined);
    this.overflow.clear();
    this.count = 0;
  }
}
