/**
 * The chaos CLI refuses a run whose big values cannot be stored under the daemons' -I, before it
 * starts anything: every such set would fail as too large and delete the old item (memcached's
 * rule), which the history cannot show, so the run would end in a confusing linearizability failure.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const chaosCli = path.join(__dirname, '..', '..', 'dist', 'loadgen', 'chaos', 'cli.js');

test('--big-value-bytes larger than --item-size allows is refused with the reason', () => {
  const r = spawnSync(process.execPath, [chaosCli, '--big-value-bytes', '100000', '--minutes', '0.1'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("--big-value-bytes 100000 does not fit the daemons' -I 64k (65536 bytes, key and item header included): raise --item-size");
});

test('a malformed --item-size is refused', () => {
  const r = spawnSync(process.execPath, [chaosCli, '--item-size', '12q', '--minutes', '0.1'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("invalid size '12q'");
});

test('a --busy-poll-us the daemons would refuse is refused before anything starts', () => {
  const r = spawnSync(process.execPath, [chaosCli, '--busy-poll-us', '2.5', '--minutes', '0.1'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('--busy-poll-us 2.5: must be an integer from 0 to 1000000');
});
