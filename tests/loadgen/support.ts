/** Shared by the loadgen tests: stock memcached started through the project helper. */
import { RunningServer, startMemcached } from '../helpers/procs';
import type { RunOptions } from '../../loadgen/runner';

/** Stock memcached -t 1 on a free port (the project helper adds -u root when we are root). */
export function memcachedAsUs(extra: string[] = []): Promise<RunningServer> {
  return startMemcached(extra);
}

export const TEST_SEED = Number(process.env.LOADGEN_TEST_SEED ?? 6061);

export function baseOptions(port: number, over: Partial<RunOptions> = {}): RunOptions {
  return {
    mode: 'puts-only', keySizeBytes: 16, valueSizeBytes: 32, host: '127.0.0.1', port,
    requests: 2000, connections: 4, pipeline: 4, getRatio: 0.5, protocol: 'text', warmupSec: 0,
    seed: TEST_SEED, keyCount: 200, timeoutMs: 5000, keepRaw: false, ...over,
  };
}
