/**
 * Which servers the integration tests talk to. The reference is always the real memcached. The
 * subject is mucached (from dist/) unless MUCACHED_SUBJECT=memcached, which points every test at a
 * second real memcached: used to validate the harness itself, never as a silent fallback.
 */
import * as fs from 'fs';
import { daemonCli, RunningServer, startMemcached, startMucached } from './procs';

export function startReference(args: string[] = []): Promise<RunningServer> {
  return startMemcached(args);
}

export function subjectName(): string {
  return process.env.MUCACHED_SUBJECT === 'memcached' ? 'memcached(subject)' : 'mucached';
}

/** Start the server under test with memcached-style flags (-m, -I, -c ...). */
export function startSubject(args: string[] = []): Promise<RunningServer> {
  if (process.env.MUCACHED_SUBJECT === 'memcached') return startReference(args);
  if (!fs.existsSync(daemonCli)) throw new Error(`${daemonCli} missing: run \`npx tsc -p tsconfig.json\` first`);
  return startMucached(args);
}
