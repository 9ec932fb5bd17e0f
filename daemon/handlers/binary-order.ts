/**
 * Per-connection ordering of command execution. memcached runs one connection's commands one
 * after another, so a get sees the set sent before it. With an engine whose writes settle later
 * (replication), a command that arrives while an earlier one is pending must not run until that
 * one settled. While nothing is pending, commands run at once (no promise, no extra turn).
 */
import type { MaybePromise } from '../cache/types';

export class CommandSequencer {
  /** The last pending execution; undefined once it (and all before it) settled. */
  private tail?: Promise<Buffer>;

  run(execute: () => MaybePromise<Buffer>): MaybePromise<Buffer> {
    const result = this.tail ? this.tail.then(execute) : execute();
    if (result instanceof Promise) this.track(result);
    return result;
  }

  private track(pending: Promise<Buffer>): void {
    this.tail = pending;
    const settle = () => {
      if (this.tail === pending) this.tail = undefined;
    };
    pending.then(settle, settle);
  }
}
