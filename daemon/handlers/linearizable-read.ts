/**
 * ServerContext.readBarrier (`--reads linearizable`, or a node still catching up with its group): a
 * plain read runs once the barrier let it, so it sees every write acknowledged before it arrived; a
 * barrier that fails becomes the protocol's error reply. Without one the read runs at once.
 */
import type { MaybePromise } from '../cache/types';
import type { ServerContext } from '../context';

export function afterReadBarrier(ctx: ServerContext, read: () => MaybePromise<Buffer>, failed: (err: unknown) => Buffer): MaybePromise<Buffer> {
  const barrier = ctx.readBarrier?.();
  return barrier === undefined ? read() : barrier.then(read, failed);
}
