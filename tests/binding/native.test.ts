import * as crypto from 'crypto';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadAddon, openFabric } from '../../binding';
import { removeShmClusterFiles } from '../../binding/shm-files';
import { repoRoot } from '../helpers/procs';
import { seededRandom, uniqueCluster } from './child';

function rdmaDevicesPresent(): boolean {
  try {
    return fs.readdirSync('/sys/class/infiniband').length > 0;
  } catch {
    return false;
  }
}

describe('native addon', () => {
  test('HMAC-SHA256 matches node:crypto (tcp authentication depends on it)', () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const { hmacSha256 } = loadAddon();
    const sizes = [0, 1, 55, 56, 63, 64, 65, 127, 128, 200, 1000];
    for (let i = 0; i < 60; i++) {
      const key = Buffer.alloc(sizes[Math.floor(random() * sizes.length)]);
      const msg = Buffer.alloc(sizes[Math.floor(random() * sizes.length)] + Math.floor(random() * 3));
      for (const b of [key, msg]) for (let j = 0; j < b.length; j++) b[j] = Math.floor(random() * 256);
      const want = crypto.createHmac('sha256', key).update(msg).digest('hex');
      const got = hmacSha256(key, msg).toString('hex');
      if (got !== want) throw new Error(`seed ${seed}: HMAC mismatch for key ${key.length} B, message ${msg.length} B`);
    }
  });

  test('verbs: without an RDMA device (or without verbs in the build) opening says why and what to use instead', () => {
    const open = () => openFabric({ kind: 'verbs', selfId: 1, cluster: uniqueCluster('verbs') });
    if (rdmaDevicesPresent()) {
      open().close(); // a host with a device opens it
      return;
    }
    let message = '';
    try {
      open().close();
    } catch (e) {
      message = (e as Error).message;
    }
    if (loadAddon().hasVerbs) expect(message).toMatch(/^no RDMA device found \(ibv_get_device_list returned 0\)/);
    else expect(message).toMatch(/no verbs backend/);
    expect(message).toMatch(/'shm'/);
    expect(message).toMatch(/'tcp'/);
  });

  test('bad arguments are errors, not crashes', () => {
    expect(() => openFabric({ kind: 'tcp', selfId: 1, cluster: uniqueCluster('x') })).toThrow(/secret/);
    expect(() => openFabric({ kind: 'shm', selfId: 0, cluster: 'c' })).toThrow(/peerId/);
    expect(() => openFabric({ kind: 'shm', selfId: 1, cluster: 'bad/name' })).toThrow(/cluster/);
    expect(() => openFabric({ kind: 'nope' as 'shm', selfId: 1, cluster: 'c' })).toThrow(/unknown fabric kind/);
    const f = openFabric({ kind: 'shm', selfId: 1, cluster: uniqueCluster('args'), shmDir: '/tmp' });
    try {
      const region = f.registerRegion('r', 64);
      expect(f.registerRegion('r', 64).length).toBe(64);
      expect(() => f.registerRegion('r', 128)).toThrow(/already registered/);
      region[0] = 9;
      expect(f.registerRegion('r', 64)[0]).toBe(9); // the same memory, zero-copy
      expect(() => f.registerRegion('../etc', 64)).toThrow(/invalid region name/);
      expect(() => f.postWrite(2, 'r', -1, Buffer.from('a'))).toThrow(/offset/);
      expect(() => f.postWrite(2, 'r', 1.5, Buffer.from('a'))).toThrow(/offset/);
      expect(() => f.postWrite(0, 'r', 0, Buffer.from('a'))).toThrow(/peerId/);
      expect(() => f.postWrite(2, '../etc', 0, Buffer.from('a'))).toThrow(/invalid region name/);
      expect(() => f.postWrite(2, 'r', 0, 'a' as unknown as Buffer)).toThrow(/Buffer/);
      // A source range outside the data never reads the caller's other memory.
      expect(() => f.postWrite(2, 'r', 0, Buffer.from('abc'), 2, 2)).toThrow(/outside data/);
      expect(() => f.postWrite(2, 'r', 0, Buffer.from('abc'), 4, 0)).toThrow(/outside data/);
      expect(() => f.postWrite(2, 'r', 0, Buffer.from('abc'), -1, 1)).toThrow(/outside data/);
      expect(() => f.postWrite(2, 'r', 0, Buffer.from('abc'), 0.5, 1)).toThrow(/outside data/);
      expect(() => f.postWrite(2, 'r', 0, Buffer.from('abc'), 1, Number.NaN)).toThrow(/outside data/);
      expect(() => f.postRead(2, 'r', 0, 10, Buffer.alloc(5))).toThrow(/too small/);
      expect(() => f.grantWrite('nosuch', 2)).toThrow(/no local region/);
      const wr = f.postWrite(2, 'r', 0, Buffer.from('a'));
      expect(f.pollCompletions()).toEqual([expect.objectContaining({ wrId: wr, ok: false, error: 'unreachable' })]);
    } finally {
      f.close();
    }
    expect(() => f.postWrite(2, 'r', 0, Buffer.from('a'))).toThrow(/closed/);
  });

  /** Two tcp fabrics in this process, node 2 connected to node 1, whose region 'r' it may write. */
  async function connectedTcpPair(name: string): Promise<{ a: ReturnType<typeof openFabric>; b: ReturnType<typeof openFabric> }> {
    const cluster = uniqueCluster(name);
    const a = openFabric({ kind: 'tcp', selfId: 1, cluster, secret: 's', listenPort: 0 });
    const b = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: 's', listenPort: 0 });
    a.registerRegion('r', 64);
    a.grantWrite('r', 2);
    b.connectPeer({ peerId: 1, host: '127.0.0.1', port: a.listenPort });
    for (let i = 0; i < 500 && b.peerState(1) !== 'connected'; i++) await new Promise((r) => setTimeout(r, 5));
    return { a, b };
  }

  test('waitCompletions resolves on a completion from the NIC thread, and on timeout', async () => {
    const { a, b } = await connectedTcpPair('wait');
    try {
      const t0 = Date.now();
      await b.waitCompletions(30); // nothing outstanding: the timeout
      expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
      const wr = b.postWrite(1, 'r', 0, Buffer.from('hi'));
      const got = [];
      for (let i = 0; i < 100 && got.length === 0; i++) {
        await b.waitCompletions(10_000); // resolves well before the timeout, woken by the NIC thread
        got.push(...b.pollCompletions());
      }
      expect(got).toEqual([{ wrId: wr, peerId: 1, ok: true }]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('whenCompletions: a wait armed again from the callback of a wake waits for the next completion', async () => {
    // The replication path re-arms from inside its wake-up. Woken by the same signal, the new wait
    // would find nothing (OpTable then backs off on a timer instead of waiting for the NIC).
    const { a, b } = await connectedTcpPair('rearm');
    try {
      const events: string[] = [];
      const second = new Promise<void>((resolve) => {
        b.whenCompletions(10_000, () => {
          events.push(`first woken with ${b.pollCompletions().length} completion(s)`);
          b.whenCompletions(10_000, () => {
            events.push(`second woken with ${b.pollCompletions().length} completion(s)`);
            resolve();
          });
          // Only now does a second completion exist: the second wait must be woken by it.
          setTimeout(() => b.postWrite(1, 'r', 8, Buffer.from('again')), 20);
        });
      });
      b.postWrite(1, 'r', 0, Buffer.from('hi'));
      await second;
      expect(events).toEqual(['first woken with 1 completion(s)', 'second woken with 1 completion(s)']);
    } finally {
      a.close();
      b.close();
    }
  });

  // Each ends while the fabrics' wakes are armed or queued to JS. Ending without close() used to
  // abort in the fabric's destructor (it released threadsafe functions Node had already freed), and
  // a wake still queued at the end aborted too ("terminate called ... Napi::Error").
  test.each([
    ['shm', 'closed, then the script ends'],
    ['shm', 'never closed, the script ends'],
    ['tcp', 'never closed, the script ends'],
    ['shm', 'never closed, process.exit'],
  ])('%s fabric, %s: the process exits cleanly (no abort at teardown)', (kind, how) => {
    const cluster = uniqueCluster('exit');
    const script = `
      const { openFabric } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'binding', 'index.js'))});
      const cluster = ${JSON.stringify(cluster)};
      const opts = (selfId) => (${JSON.stringify(kind)} === 'tcp' ? { kind: 'tcp', selfId, cluster, secret: 's', listenPort: 0 } : { kind: 'shm', selfId, cluster });
      const a = openFabric(opts(1));
      const b = openFabric(opts(2));
      b.registerRegion('log', 4096);
      b.grantWrite('log', 1);
      b.watchRemoteWrites('log');
      b.onRemoteWrite(() => undefined);
      a.registerRegion('log', 4096);
      a.connectPeer(${JSON.stringify(kind)} === 'tcp' ? { peerId: 2, host: '127.0.0.1', port: b.listenPort } : { peerId: 2 });
      (async () => {
        for (let i = 0; i < 400 && a.peerState(2) !== 'connected'; i++) await new Promise((r) => setTimeout(r, 5));
        void a.waitCompletions(1000);
        for (let i = 0; i < 20; i++) a.postWrite(2, 'log', 0, Buffer.alloc(64, i));
        console.log('script done');
        if (${JSON.stringify(how)}.startsWith('closed')) { a.close(); b.close(); }
        if (${JSON.stringify(how)}.endsWith('process.exit')) process.exit(0);
      })();
    `;
    for (let run = 0; run < 3; run++) {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
      // A fabric never closed leaves its shm region files behind, as a killed node does.
      removeShmClusterFiles(cluster);
      // (stderr may hold the fabric's own log lines, e.g. a tcp link closed as the peer went first)
      const aborted = /terminate called|Napi::Error|Aborted|Segmentation/.test(r.stderr);
      expect({ status: r.status, signal: r.signal, stdout: r.stdout.trim(), aborted }).toEqual({ status: 0, signal: null, stdout: 'script done', aborted: false });
    }
  });
});
