/**
 * Servers (and one sentinel session on each) that a test starts, stopped by their PIDs after every
 * test of the file that calls `trackedServers()`.
 */
import type { RunningServer } from './procs';
import { SentinelSession } from './sentinel-session';

export interface Tracked {
  /** Starts a server with `start(args)` and opens a session on it; both are closed after the test. */
  open(start: (args: string[]) => Promise<RunningServer>, args?: string[]): Promise<{ server: RunningServer; session: SentinelSession }>;
}

export function trackedServers(): Tracked {
  const servers: RunningServer[] = [];
  const sessions: SentinelSession[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close();
    for (const s of servers.splice(0)) await s.stop();
  });
  return {
    async open(start, args = []) {
      const server = await start(args);
      servers.push(server);
      const session = await SentinelSession.open(server.port);
      sessions.push(session);
      return { server, session };
    },
  };
}
