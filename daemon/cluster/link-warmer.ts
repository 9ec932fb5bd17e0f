/**
 * Keeps a peer link open to every member that is up, not only to the leader. A follower forwards
 * writes to whoever leads; when the leader dies, the first write forwarded to its successor used to
 * open that link on the spot, and the connect and handshake (three messages, two HMACs) took 3-9 ms
 * on this machine while both survivors were busy with the take-over. A member that is down, or that
 * refuses our handshake (another cluster secret), is tried again with a back-off that doubles up to
 * MAX_BACKOFF_MS, so a lasting refusal logs a line now and then, not one per check.
 */
import type { PeerDialer } from './peer-link';

export const CHECK_EVERY_MS = 250;
export const MAX_BACKOFF_MS = 30_000;

interface Pace {
  nextTryAtMs: number;
  backoffMs: number;
}

export class LinkWarmer {
  private readonly pace = new Map<number, Pace>();
  private timer: NodeJS.Timeout | null = null;

  /** `up(id)`: the member looks up (its fabric side answers), so a link to it should open. */
  constructor(
    private readonly dialers: ReadonlyMap<number, PeerDialer>,
    private readonly up: (id: number) => boolean,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass: open the links that are down to members that are up, each at its own pace. */
  check(): void {
    const now = this.nowMs();
    for (const [id, dialer] of this.dialers) {
      let p = this.pace.get(id);
      if (p === undefined) this.pace.set(id, (p = { nextTryAtMs: 0, backoffMs: CHECK_EVERY_MS }));
      if (dialer.linked) {
        p.backoffMs = CHECK_EVERY_MS;
        p.nextTryAtMs = 0;
        continue;
      }
      if (now < p.nextTryAtMs || !this.up(id)) continue;
      void dialer.warm();
      // Judged at a later pass: linked by then resets the pace; still down doubles it.
      p.nextTryAtMs = now + p.backoffMs;
      p.backoffMs = Math.min(2 * p.backoffMs, MAX_BACKOFF_MS);
    }
  }
}
