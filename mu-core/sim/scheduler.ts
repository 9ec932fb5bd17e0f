/** SimScheduler: a node's view of simulated time; its timers are events tagged with the node. */
import type { Fabric } from '../../binding/fabric';
import type { Scheduler, TimerHandle } from '../scheduler';
import type { SimWorld } from './world';

export class SimScheduler implements Scheduler {
  constructor(private readonly world: SimWorld, private readonly nodeId: number) {}

  nowMs(): number {
    return this.world.now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const ev = this.world.schedule(delayMs, this.nodeId, fn);
    return { cancel: () => { ev.cancelled = true; } };
  }

  defer(fn: () => void): void {
    this.world.schedule(0, this.nodeId, fn);
  }

  whenCompletions(_fabric: Fabric, timeoutMs: number, fn: () => void): void {
    const host = this.world.host(this.nodeId);
    if (host !== undefined) this.world.waitForCompletions(host, timeoutMs, fn);
  }
}
