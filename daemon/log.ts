/**
 * One line per state change, to stderr, prefixed like memcached's own messages would be read in a
 * journal: `mucached[PID]: message`. Levels follow memcached's -v / -vv.
 */
export type LogLevel = 0 | 1 | 2;

export class Logger {
  constructor(public verbosity: LogLevel = 0, private readonly sink: (line: string) => void = (l) => process.stderr.write(l)) {}

  /** Always printed: state changes (listening, shutting down, peer lost...). */
  info(message: string): void {
    this.sink(`mucached[${process.pid}]: ${message}\n`);
  }

  /** -v: errors and warnings about clients. */
  verbose(message: string): void {
    if (this.verbosity >= 1) this.info(message);
  }

  /** -vv: per-connection and per-command detail. */
  debug(message: string): void {
    if (this.verbosity >= 2) this.info(message);
  }
}
