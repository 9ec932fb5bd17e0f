/**
 * Busy polling after input (`--busy-poll-us N`): for N microseconds after a client's or a peer's
 * bytes arrive, the event loop polls for more (a chain of setImmediate keeps libuv's epoll timeout
 * at 0) instead of sleeping in epoll. What it saves is the wake-up of a sleeping process: on a VM
 * that is tens to hundreds of microseconds, and a write sent to a follower pays it twice more than
 * one sent to the leader (the follower waits for the leader's answer, the leader for the forward).
 * Mu's own nodes poll on dedicated cores for the same reason. The price is CPU: up to N µs of a core
 * after every quiet-to-busy edge, nothing while the loop is busy anyway. Off (0) by default.
 *
 * Invariant: one polling chain per process at most (the event loop is per process), and it ends at
 * the first turn that finds the window past: an idle node polls for at most N µs after its last input.
 */

/** The longest window accepted: beyond a second it is a spinning process, not a latency setting. */
export const MAX_BUSY_POLL_US = 1_000_000;

let windowMs = 0;
let untilMs = 0;
let polling = false;

const pollTurn = (): void => {
  if (performance.now() < untilMs) setImmediate(pollTurn);
  else polling = false;
};

/** `us` if it is a window, else an error naming the flag every tool takes it as. */
export function checkedBusyPollUs(us: number): number {
  if (Number.isInteger(us) && us >= 0 && us <= MAX_BUSY_POLL_US) return us;
  throw new Error(`--busy-poll-us ${us}: must be an integer from 0 to ${MAX_BUSY_POLL_US}`);
}

/** Sets the window for this process (0 turns busy polling off; a chain running ends by itself). */
export function setBusyPollUs(us: number): void {
  windowMs = checkedBusyPollUs(us) / 1000;
  if (us === 0) untilMs = 0;
}

/** Input arrived: keep polling until the window after it has passed. */
export function busyPollAfterInput(): void {
  if (windowMs === 0) return;
  untilMs = performance.now() + windowMs;
  if (polling) return;
  polling = true;
  setImmediate(pollTurn);
}
