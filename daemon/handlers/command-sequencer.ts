/**
 * Per-connection ordering of command execution. memcached runs one connection's commands one
 * after another, so a get sees the set sent before it. With an engine whose writes settle later
 * (replication), a command that arrives while an earlier one is pending must not run until that
 * one settled. While nothing is pending, commands run at once (no promise, no extra turn).
 */
import type { MaybePromise } from '../cache/types';
import type { ReplySink } from './types';

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

/**
 * The same ordering for handlers that reply through a sink (the ASCII handler): a command that
 * arrives while an earlier one is pending reserves its place in the reply queue at once, runs once
 * everything before it settled, and fills its place with whatever it replied. A sink that knows
 * its own pending tail (a connection) is asked for it; for others the tail is tracked here.
 */
export class OrderedReplies {
  private tail?: Promise<unknown>;
  /** While nothing is pending, commands reply straight through this (built once: hot path). */
  private readonly direct: ReplySink;
  private readonly sinkTracks: boolean;

  constructor(private readonly sink: ReplySink) {
    this.sinkTracks = sink.pendingTail !== undefined;
    this.direct = this.sinkTracks ? sink : {
      reply: (bytes) => {
        this.sink.reply(bytes);
        if (bytes instanceof Promise) this.track(bytes);
      },
      closeAfterReplies: (reason) => this.sink.closeAfterReplies(reason),
    };
  }

  run(execute: (sink: ReplySink) => void): void {
    const tail = this.sinkTracks ? this.sink.pendingTail!() : this.tail;
    if (tail === undefined) {
      execute(this.direct);
      return;
    }
    const parts: Array<MaybePromise<Buffer>> = [];
    let closeReason: string | undefined;
    const filled = tail.then(() => {
      execute({ reply: (bytes) => parts.push(bytes), closeAfterReplies: (reason) => { closeReason = reason; } });
      return Promise.all(parts);
    }).then((buffers) => {
      if (closeReason !== undefined) this.sink.closeAfterReplies(closeReason);
      return buffers.length === 1 ? buffers[0] : Buffer.concat(buffers);
    });
    this.sink.reply(filled);
    if (!this.sinkTracks) this.track(filled);
  }

  private track(pending: Promise<unknown>): void {
    this.tail = pending;
    const settle = () => {
      if (this.tail === pending) this.tail = undefined;
    };
    pending.then(settle, settle);
  }
}
