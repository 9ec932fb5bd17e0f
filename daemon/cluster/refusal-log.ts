/**
 * Log lines about refused connections, bounded: anyone who can reach a peer port can make us
 * refuse connections as fast as they open them, and one line each would flood the journal. The
 * first `linesPerWindow` refusals of each window are logged one by one; the rest are counted and
 * reported in one line when the window ends.
 */
import type { LinkLog } from './peer-link';

export class RefusalLog {
  private windowStartMs = 0;
  private linesInWindow = 0;
  private unlogged = 0;
  private summaryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: LinkLog,
    private readonly linesPerWindow = 10,
    private readonly windowMs = 1000,
    private readonly nowMs: () => number = Date.now,
  ) {}

  refused(line: string): void {
    const now = this.nowMs();
    if (now - this.windowStartMs >= this.windowMs) {
      this.flush();
      this.windowStartMs = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow < this.linesPerWindow) {
      this.linesInWindow++;
      this.log.info(line);
      return;
    }
    this.unlogged++;
    // The count is reported when the window ends even if nothing is refused after it.
    this.summaryTimer ??= setTimeout(() => this.flush(), Math.max(1, this.windowStartMs + this.windowMs - now));
    this.summaryTimer.unref();
  }

  /** Reports the refusals counted but not logged, if any. */
  flush(): void {
    if (this.summaryTimer !== null) clearTimeout(this.summaryTimer);
    this.summaryTimer = null;
    if (this.unlogged === 0) return;
    this.log.info(`peer link: refused ${this.unlogged} more connection(s) within ${this.windowMs} ms (not logged one by one)`);
    this.unlogged = 0;
  }
}
