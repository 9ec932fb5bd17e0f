/**
 * The verbs backend's pure parts (region advertisement and connect-data encoding, the QP
 * access-flag decision, completion error mapping), tested by a C++ executable that CMake builds
 * beside the addon (binding/test/verbs_pure_test.cc). The data path itself needs an RDMA device.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { addonPath, loadAddon, openFabric } from '../../binding';
import { uniqueCluster } from './child';

const testBinary = path.join(path.dirname(addonPath()), 'verbs_pure_test');

function rdmaDevicesPresent(): boolean {
  try {
    return fs.readdirSync('/sys/class/infiniband').length > 0;
  } catch {
    return false;
  }
}

describe('verbs: pure parts', () => {
  test('the C++ unit tests pass (seeded; the seed is in the output)', () => {
    if (!loadAddon().hasVerbs) {
      // A build without the RDMA headers has neither the backend nor its tests.
      expect(fs.existsSync(testBinary)).toBe(false);
      return;
    }
    const seed = String(Date.now() >>> 0);
    const run = spawnSync(testBinary, [seed], { encoding: 'utf8', timeout: 30_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0) throw new Error(`verbs_pure_test failed (status ${run.status}, signal ${run.signal}):\n${output}`);
    expect(run.stdout).toContain(`seed ${seed}`);
    expect(run.stdout).toMatch(/^\d+ checks, 0 failed$/m);
  });

  test('device and address options do not hide the no-device error', () => {
    if (rdmaDevicesPresent() || !loadAddon().hasVerbs) return; // covered by native.test.ts there
    for (const extra of [{ device: 'mlx5_0' }, { gid: '::ffff:10.0.0.1' }, { listenHost: '10.0.0.1', listenPort: 0 }]) {
      expect(() => openFabric({ kind: 'verbs', selfId: 1, cluster: uniqueCluster('verbs'), ...extra }).close()).toThrow(
        /^no RDMA device found \(ibv_get_device_list returned 0\).*'shm'.*'tcp'/,
      );
    }
  });
});
