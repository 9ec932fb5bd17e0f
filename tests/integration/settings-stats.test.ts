/** `stats settings` reports -o idle_timeout as memcached does (operators check it there). */
import { exchange } from '../helpers/cluster';
import { startMemcached, startMucached, RunningServer } from '../helpers/procs';

async function settingsLine(server: RunningServer, name: string): Promise<string | undefined> {
  const reply = await exchange(server.port, 'stats settings\r\n', (r) => r.endsWith('END\r\n'));
  return reply.split('\r\n').find((l) => l.startsWith(`STAT ${name} `));
}

describe('stats settings', () => {
  it('shows idle_timeout and auth_enabled_sasl like memcached', async () => {
    const ours = await startMucached(['-o', 'idle_timeout=7']);
    const theirs = await startMemcached(['-o', 'idle_timeout=7']);
    try {
      for (const name of ['idle_timeout', 'auth_enabled_sasl']) {
        const expected = await settingsLine(theirs, name);
        expect(expected).toBeDefined();
        expect(await settingsLine(ours, name)).toBe(expected);
      }
      expect(await settingsLine(ours, 'idle_timeout')).toBe('STAT idle_timeout 7');
    } finally {
      await ours.stop();
      await theirs.stop();
    }
  });
});
