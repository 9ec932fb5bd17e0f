/**
 * The read barrier over a scripted fence source, turns run by hand: reads of one turn share a
 * fence started after the turn, a read after that start waits for the next one, a read waits for
 * the fence's index to be applied here, failed fences are tried again, and a read nobody can
 * confirm in time fails (nothing read).
 */
import { ReadIndexBarrier, ReadIndexSource, ReadUnconfirmedError } from './read-barrier';

/** Fences answer with the next index unless told to fail; the applied index moves by hand. */
class ScriptedSource implements ReadIndexSource {
  nextIndex = 10;
  failNext = 0;
  fenceCalls = 0;
  applied = 0;
  private waiting: Array<{ index: number; resolve: () => void }> = [];

  fence(): Promise<number> {
    this.fenceCalls++;
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('NotLeader'));
    }
    return Promise.resolve(this.nextIndex++);
  }

  whenApplied(index: number): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ index, resolve }));
  }

  apply(index: number): void {
    this.applied = index;
    for (const w of this.waiting.splice(0)) {
      if (w.index <= index) w.resolve();
      else this.waiting.push(w);
    }
  }
}

/** Turn ends run when the test says so. */
function manualTurns(): { afterTurn: (fn: () => void) => void; endTurn: () => void } {
  const queued: Array<() => void> = [];
  return { afterTurn: (fn) => { queued.push(fn); }, endTurn: () => { for (const fn of queued.splice(0)) fn(); } };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

it('reads of one turn share a fence started after the turn; a later read waits for the next fence', async () => {
  const source = new ScriptedSource();
  const turns = manualTurns();
  const barrier = new ReadIndexBarrier(source, 1000, turns.afterTurn);
  const done: string[] = [];
  barrier.wait().then(() => done.push('a'));
  barrier.wait().then(() => done.push('b'));
  await settle();
  expect(source.fenceCalls).toBe(0); // not before the turn ended
  turns.endTurn();
  // A read arriving after the fence started must not share it.
  barrier.wait().then(() => done.push('c'));
  await settle();
  expect(source.fenceCalls).toBe(1);
  source.apply(9);
  await settle();
  expect(done).toEqual([]); // fence at index 10 not applied yet
  source.apply(10);
  await settle();
  expect(done).toEqual(['a', 'b']);
  turns.endTurn();
  await settle();
  expect(source.fenceCalls).toBe(2);
  source.apply(11);
  await settle();
  expect(done).toEqual(['a', 'b', 'c']);
  expect({ reads: barrier.reads, fences: barrier.fences }).toEqual({ reads: 3, fences: 2 });
});

it('tries the fence again while the lead changes', async () => {
  const source = new ScriptedSource();
  source.failNext = 3;
  source.applied = 100;
  const barrier = new ReadIndexBarrier(source, 5000, (fn) => fn());
  await barrier.wait();
  expect(source.fenceCalls).toBe(4);
});

it('fails when no fence commits in time, or its index is not applied here in time', async () => {
  const source = new ScriptedSource();
  source.failNext = Number.MAX_SAFE_INTEGER;
  const unconfirmed = new ReadIndexBarrier(source, 30, (fn) => fn());
  await expect(unconfirmed.wait()).rejects.toThrow(ReadUnconfirmedError);
  await expect(unconfirmed.wait()).rejects.toThrow(/no leader confirmed this read within 30 ms \(NotLeader\); nothing read/);
  const lagging = new ScriptedSource();
  const behind = new ReadIndexBarrier(lagging, 30, (fn) => fn());
  await expect(behind.wait()).rejects.toThrow(/fence at index 10 not applied here in time/);
});
