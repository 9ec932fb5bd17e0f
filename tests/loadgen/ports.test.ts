/**
 * A cluster's ports are all different even when the free-port probe repeats itself (it does: a
 * probed port is free again at once), and a source that cannot supply enough fails clearly. A
 * started server counts as listening only once the port is its own.
 */
import { spawn } from 'child_process';
import * as net from 'net';
import { distinctFreePorts, freePort, listensOn, waitForListening } from '../../loadgen/ports';
import { memcachedPath, startMemcached } from '../helpers/procs';

test('distinct ports from a probe that repeats itself; a clear error when it cannot supply enough', async () => {
  const answers = [40001, 40001, 40002, 40001, 40003, 40002, 40004];
  let i = 0;
  const repeating = () => Promise.resolve(answers[i++ % answers.length]);
  expect(await distinctFreePorts(4, repeating)).toEqual([40001, 40002, 40003, 40004]);
  await expect(distinctFreePorts(2, () => Promise.resolve(40009))).rejects.toThrow(/only 1 distinct free ports of 2/);
  const real = await distinctFreePorts(9);
  expect(new Set(real).size).toBe(9);
});

describe('a port another process took meanwhile', () => {
  let squatter: net.Server;
  let port: number;
  beforeEach(async () => {
    port = await freePort();
    squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', () => resolve()));
  });
  afterEach(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

  test('is not mistaken for the started server\'s: memcached that failed to bind is reported as exited', async () => {
    expect(listensOn(process.pid, port)).toBe(true);
    const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];
    const proc = spawn(memcachedPath(), ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', ...asRoot], { stdio: 'ignore' });
    try {
      expect(listensOn(proc.pid!, port)).toBe(false);
      await expect(waitForListening(port, proc, 5000)).rejects.toThrow(/exited .* before listening on port/);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
    }
  });

  test('a live process that never listens there times out instead of passing', async () => {
    const proc = spawn('sleep', ['10'], { stdio: 'ignore' });
    try {
      await expect(waitForListening(port, proc, 300)).rejects.toThrow(/answers, but another process than pid \d+ listens there/);
    } finally {
      process.kill(proc.pid!, 'SIGKILL');
    }
  });

  test('startMemcached lands on a port of its own', async () => {
    const server = await startMemcached();
    try {
      expect(listensOn(server.proc.pid!, server.port)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
