/** mu-core logs one line per state change (became leader, follower caught up, peer lost). */
export interface MuLogger {
  info(message: string): void;
  warn(message: string): void;
}

export const silentLogger: MuLogger = { info: () => undefined, warn: () => undefined };

export function prefixedConsoleLogger(prefix: string): MuLogger {
  return {
    info: (m) => console.log(`${prefix} ${m}`),
    warn: (m) => console.warn(`${prefix} ${m}`),
  };
}
