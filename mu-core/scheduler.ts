/**
 * Time and wake-ups come through this interface so that the simulation (sim/scheduler.ts) controls
 * them, while production uses real timers. mu-core never calls setTimeout or Date directly.
 */
import type { Fabric } from '../binding/fabric';

export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** Monotonic milliseconds (fractional). */
  nowMs(): number;
  /** Run `fn` once after `delayMs` (0 = as soon as the event loop allows, after I/O). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Run `fn` once the current turn of the event loop is over: proposals made in one turn batch. */
  defer(fn: () => void): void;
  /** Call `fn` once when `fabric` may have completions ready, or after timeoutMs at the latest. */
  whenCompletions(fabric: Fabric, timeoutMs: number, fn: () => void): void;
}

const settled = Promise.resolve();

/**
 * Real timers. Sub-millisecond delays cannot use setTimeout (1 ms granularity), so they re-check the
 * clock from setImmediate: this keeps detection and the reading pump in the microsecond range at the
 * price of a busy event loop, as Mu's own polling threads.
 */
export class RealScheduler implements Scheduler {
  nowMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    let cancelled = false;
    if (delayMs >= 1) {
      const t = setTimeout(() => { if (!cancelled) fn(); }, delayMs);
      return { cancel: () => { cancelled = true; clearTimeout(t); } };
    }
    const deadline = performance.now() + delayMs;
    let imm: NodeJS.Immediate | undefined;
    const spin = () => {
      if (cancelled) return;
      if (performance.now() >= deadline) fn();
      else imm = setImmediate(spin);
    };
    imm = setImmediate(spin);
    return { cancel: () => { cancelled = true; if (imm) clearImmediate(imm); } };
  }

  defer(fn: () => void): void {
    // A reaction to a settled promise: a third of queueMicrotask's cost (binding/index.ts).
    void settled.then(fn);
  }

  whenCompletions(fabric: Fabric, timeoutMs: number, fn: () => void): void {
    fabric.whenCompletions(timeoutMs, fn);
  }
}
