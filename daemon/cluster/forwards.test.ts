/** ForwardsInFlight: forwards to a leader that another one replaced end, with outcome unknown. */
import { ABANDON_AFTER_MS, ForwardsInFlight } from './forwards';
import { PeerLinkError } from './peer-link';

let clockMs = 0;
let leader: number | null = 1;

beforeEach(() => {
  jest.useFakeTimers();
  clockMs = 0;
  leader = 1;
});
afterEach(() => jest.useRealTimers());

function advance(ms: number): void {
  for (let t = 0; t < ms; t++) {
    clockMs++;
    jest.advanceTimersByTime(1);
  }
}

function pending<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

function outcome<T>(p: Promise<T>): { value?: T; error?: Error } {
  const o: { value?: T; error?: Error } = {};
  p.then((v) => { o.value = v; }, (e: Error) => { o.error = e; });
  return o;
}

test('an answer from the leader is passed on; nothing stays tracked', async () => {
  const f = new ForwardsInFlight(() => leader, () => clockMs);
  const answer = pending<string>();
  const o = outcome(f.track(1, answer.promise));
  answer.resolve('STORED');
  await Promise.resolve();
  await Promise.resolve();
  expect(o.value).toBe('STORED');
  expect(f.size).toBe(0);
});

test('once another leader is known for a while, the wait on the old one ends: not retryable, outcome unknown', async () => {
  const f = new ForwardsInFlight(() => leader, () => clockMs);
  const o = outcome(f.track(1, pending<string>().promise));
  advance(200);
  expect(o.error).toBeUndefined(); // the leader is still node 1: wait
  leader = null; // mid-election: nobody known yet
  advance(200);
  expect(o.error).toBeUndefined();
  leader = 2;
  advance(ABANDON_AFTER_MS - 10);
  expect(o.error).toBeUndefined(); // a hand-off's last answers may still be on their way
  advance(20);
  await Promise.resolve();
  expect(o.error).toBeInstanceOf(PeerLinkError);
  expect((o.error as PeerLinkError).retryable).toBe(false);
  expect(o.error!.message).toMatch(/node 1 stopped leading \(node 2 leads now\).*outcome unknown/);
  expect(f.size).toBe(0);
});

test('a view that flips back to the old leader in time keeps the wait; forwards to the new leader are not touched', async () => {
  const f = new ForwardsInFlight(() => leader, () => clockMs);
  const toOne = outcome(f.track(1, pending<string>().promise));
  leader = 2;
  advance(ABANDON_AFTER_MS - 10);
  leader = 1;
  advance(5 * ABANDON_AFTER_MS);
  expect(toOne.error).toBeUndefined();
  leader = 2;
  const toTwo = outcome(f.track(2, pending<string>().promise));
  advance(2 * ABANDON_AFTER_MS);
  await Promise.resolve();
  expect(toOne.error?.message).toMatch(/outcome unknown/);
  expect(toTwo.error).toBeUndefined();
  f.close('stopping');
  await Promise.resolve();
  expect(toTwo.error?.message).toBe('stopping; outcome unknown');
});

test('an old leader that went silent (dead without announcing it leaves) is given up as soon as another leads', async () => {
  const silent = new Set<number>();
  const f = new ForwardsInFlight(() => leader, () => clockMs, (id) => silent.has(id));
  const o = outcome(f.track(1, pending<string>().promise));
  silent.add(1);
  advance(200);
  expect(o.error).toBeUndefined(); // silent, but nobody else leads yet: the write may still be its
  leader = 2;
  advance(10); // one check, far less than the hand-off grace
  await Promise.resolve();
  expect(o.error?.message).toMatch(/node 1 stopped leading \(node 2 leads now\).*outcome unknown/);
  // A leader that hands over (alive, or dead because it announced it leaves) keeps the grace.
  const handingOver = outcome(f.track(2, pending<string>().promise));
  leader = 3;
  advance(ABANDON_AFTER_MS - 10);
  expect(handingOver.error).toBeUndefined();
});

test('leaderChanged judges the waits at once: a silent old leader is given up without waiting for the next check', async () => {
  const f = new ForwardsInFlight(() => leader, () => clockMs, (id) => id === 1);
  const o = outcome(f.track(1, pending<string>().promise));
  leader = 2;
  f.leaderChanged(); // no timer advanced at all
  await Promise.resolve();
  expect(o.error?.message).toMatch(/node 1 stopped leading \(node 2 leads now\).*outcome unknown/);
});
