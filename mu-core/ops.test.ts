/**
 * OpTable wake-ups: after an empty wake-up the table backs off on a timer, but a new post must be
 * polled as soon as the fabric signals it, not after the back-off (each take-over round trip paid
 * it). A hand-driven scheduler and fabric make every wake-up explicit.
 */
import type { Completion, Fabric } from '../binding/fabric';
import { OpTable } from './ops';
import type { Scheduler, TimerHandle } from './scheduler';

class ManualScheduler implements Scheduler {
  now = 0;
  timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  waits: Array<() => void> = [];
  nowMs(): number { return this.now; }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = { at: this.now + delayMs, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => { t.cancelled = true; } };
  }
  defer(fn: () => void): void { fn(); }
  whenCompletions(_f: Fabric, _timeoutMs: number, fn: () => void): void { this.waits.push(fn); }
  /** Fires the pending completion waits (the fabric signalled readiness). */
  signal(): void { for (const w of this.waits.splice(0)) w(); }
  liveTimers(): number { return this.timers.filter((t) => !t.cancelled && t.at > this.now).length; }
}

function fakeFabric(): Fabric & { ready: Completion[]; next: number } {
  const f = {
    kind: 'sim' as const, selfId: 1, ready: [] as Completion[], next: 1,
    registerRegion: () => Buffer.alloc(0), connectPeer: () => undefined, disconnectPeer: () => undefined,
    peerState: () => 'connected' as const, watchRemoteWrites: () => false, onRemoteWrite: () => undefined,
    watchPeerGone: () => false, onPeerGone: () => undefined, armGrant: () => false, takeArmedGrants: () => [],
    postWrite(peerId: number): number { const id = f.next++; f.ready.push({ wrId: id, peerId, ok: true }); return id; },
    postRead(peerId: number): number { const id = f.next++; f.ready.push({ wrId: id, peerId, ok: true }); return id; },
    pollCompletions: (max = 64) => f.ready.splice(0, max),
    waitCompletions: () => Promise.resolve(), whenCompletions: (_ms: number, fn: () => void) => queueMicrotask(fn),
    grantWrite: () => undefined, writeHolder: () => null, close: () => undefined,
  };
  return f;
}

test('a post after an empty wake-up is polled on the next signal, not after the back-off timer', () => {
  const s = new ManualScheduler();
  const fabric = fakeFabric();
  const ops = new OpTable(fabric, s, 1);
  const done: string[] = [];
  // A slow read (a take-over's log read, a scan over tcp) keeps the table armed meanwhile.
  fabric.postRead = () => fabric.next++;
  ops.read(2, 'log', 0, 8, Buffer.alloc(8), () => done.push('read'));
  s.signal(); // a wake-up that finds nothing: the table backs off on a timer
  expect(s.liveTimers()).toBe(1);
  expect(s.waits).toHaveLength(0);
  ops.write(3, 'log', 0, Buffer.alloc(8), () => done.push('write'));
  expect(s.liveTimers()).toBe(0); // the post cancelled the back-off...
  expect(s.waits).toHaveLength(1); // ...and waits for completions instead
  s.signal();
  expect(done).toEqual(['write']); // without any time passing
  expect(s.now).toBe(0);
});

test('without new posts, empty wake-ups back off on a timer instead of looping', () => {
  const s = new ManualScheduler();
  const fabric = fakeFabric();
  const ops = new OpTable(fabric, s, 1);
  let seen = 0;
  // A read whose completion never comes keeps the table armed.
  fabric.postRead = () => fabric.next++;
  ops.read(2, 'ctl', 0, 8, Buffer.alloc(8), () => seen++);
  s.signal();
  expect(s.waits).toHaveLength(0);
  expect(s.liveTimers()).toBe(1); // backed off on a timer, not re-armed on completions
  expect(seen).toBe(0);
});

test('a chain of writes, each posted from the previous one\'s callback after the poll, runs without nesting polls', () => {
  // The leader's pattern: a completion commits, the commit's callback proposes, the flush runs after
  // the poll (whenPollDone), writes, and polls again. 5,000 rounds in one go must neither nest one
  // stack level per round nor leave a write behind.
  const s = new ManualScheduler();
  const fabric = fakeFabric();
  const ops = new OpTable(fabric, s, 1);
  const rounds = 5000;
  let completed = 0;
  const depths: number[] = [];
  const flush = () => {
    depths.push(new Error().stack!.split('\n').length);
    ops.write(2, 'log', 0, Buffer.alloc(8), () => {
      completed++;
      if (completed < rounds) expect(ops.whenPollDone(flush)).toBe(true);
    });
    ops.poll();
  };
  flush();
  expect(completed).toBe(Math.min(rounds, 1000)); // one poll call runs at most 1000 rounds...
  while (completed < rounds && s.waits.length > 0) s.signal(); // ...the rest on later wake-ups
  expect(completed).toBe(rounds);
  expect(ops.outstanding).toBe(0);
  expect(Math.max(...depths) - Math.min(...depths)).toBeLessThan(20);
});
