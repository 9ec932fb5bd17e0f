/**
 * Real ASCII clients against our daemon: libmemcached's memccapable protocol checker, and
 * pymemcache running the same script against memcached 1.6.18 and mucached (outputs must match).
 */
import { spawn } from 'child_process';
import { RunningServer, startMemcached, startMucached } from '../helpers/procs';

/** Run a program to completion (killed by its PID after timeoutMs). */
function runProgram(cmd: string, args: string[], input: string | undefined, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d.toString(); });
    child.stderr.on('data', (d) => { out += d.toString(); });
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
    child.stdin.end(input ?? '');
  });
}

const PY_SCRIPT = `
import sys
from pymemcache.client.base import Client
c = Client(('127.0.0.1', int(sys.argv[1])), default_noreply=False)
out = []
out.append(c.set('a', b'1'))
out.append(c.get('a'))
out.append(sorted(c.get_many(['a', 'b', 'c']).items()))
v, cas = c.gets('a')
out.append((v, int(cas) > 0))
out.append(c.cas('a', b'2', cas))
out.append(c.cas('a', b'3', cas))
out.append(c.incr('a', 10))
out.append(c.decr('a', 100))
out.append(c.incr('nokey', 1))
out.append(c.add('a', b'x'))
out.append(c.replace('zz', b'x'))
out.append(c.append('a', b'9'))
out.append(c.prepend('a', b'8'))
out.append(c.get('a'))
out.append(c.touch('a', 100))
out.append(c.delete('a'))
out.append(c.delete('a'))
try:
    c.set('big', b'x' * 2000000)
except Exception as e:
    out.append(type(e).__name__ + ': ' + str(e))
out.append(c.get('big'))
out.append(c.flush_all())
out.append(c.version() is not None)
print(repr(out))
`;

describe('real ASCII clients', () => {
  let memcached: RunningServer;
  let mucached: RunningServer;
  beforeAll(async () => {
    memcached = await startMemcached();
    mucached = await startMucached();
  });
  afterAll(async () => {
    await memcached?.stop();
    await mucached?.stop();
  });

  test('memccapable -a (libmemcached ASCII protocol checks) passes', async () => {
    const r = await runProgram('memccapable', ['-h', '127.0.0.1', '-p', String(mucached.port), '-a'], undefined, 30_000);
    expect(r.out).toContain('All tests passed');
    expect(r.code).toBe(0);
  });

  test('pymemcache sees the same results from both servers', async () => {
    const want = await runProgram('/usr/bin/python3', ['-', String(memcached.port)], PY_SCRIPT, 20_000);
    const got = await runProgram('/usr/bin/python3', ['-', String(mucached.port)], PY_SCRIPT, 20_000);
    expect(want.code).toBe(0);
    expect(got.out).toBe(want.out);
    expect(got.code).toBe(0);
  });
});
