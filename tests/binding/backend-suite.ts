/**
 * Behaviour every real backend (shm, tcp) must show, with writers in child processes and the
 * owner of the memory in this (jest) process.
 */
import { openFabric, NativeFabric } from '../../binding';
import type { FabricOptions } from '../../binding/fabric';
import { freePort } from '../helpers/procs';
import { FabricChild, seededRandom, slotValue, tempShmDir, uniqueCluster } from './child';

export interface Cluster {
  options(selfId: number): FabricOptions;
  /** Address of node `peerId` as connectPeer wants it, given the node's listen port (tcp). */
  address(peerId: number, listenPort: number): { peerId: number; host?: string; port?: number };
  cleanup(): void;
}

export function shmCluster(): Cluster {
  const { dir, cleanup } = tempShmDir();
  const cluster = uniqueCluster('shm');
  return {
    options: (selfId) => ({ kind: 'shm', selfId, cluster, shmDir: dir }),
    address: (peerId) => ({ peerId }),
    cleanup,
  };
}

export function tcpCluster(secret = 'test-secret'): Cluster {
  const cluster = uniqueCluster('tcp');
  return {
    options: (selfId) => ({ kind: 'tcp', selfId, cluster, secret, listenHost: '127.0.0.1', listenPort: 0 }),
    address: (peerId, listenPort) => ({ peerId, host: '127.0.0.1', port: listenPort }),
    cleanup: () => undefined,
  };
}

const REGION = 'log';
const REGION_BYTES = 1 << 20;

export function backendSuite(kind: 'shm' | 'tcp', makeCluster: () => Cluster): void {
  let cluster: Cluster;
  let owner: NativeFabric;
  let region: Buffer;
  const children: FabricChild[] = [];

  /** A writer node in its own process, connected to the owner (node 1). */
  async function writer(selfId: number, options?: Partial<FabricOptions>): Promise<FabricChild> {
    const child = new FabricChild();
    children.push(child);
    await child.must({ op: 'open', options: { ...cluster.options(selfId), ...options } });
    await child.must({ op: 'connect', ...cluster.address(1, owner.listenPort) });
    return child;
  }

  async function connectedWriter(selfId: number): Promise<FabricChild> {
    const child = await writer(selfId);
    const r = await child.must({ op: 'waitConnected', peerId: 1, timeoutMs: 5000 });
    expect(r.state).toBe('connected');
    return child;
  }

  beforeEach(() => {
    cluster = makeCluster();
    owner = openFabric(cluster.options(1));
    region = owner.registerRegion(REGION, REGION_BYTES);
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.stop()));
    owner.close();
    cluster.cleanup();
  });

  test(`${kind}: writes and reads land at the right offsets`, async () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const a = await connectedWriter(2);
    owner.grantWrite(REGION, 2);
    expect(owner.writeHolder(REGION)).toBe(2);
    const expected = Buffer.alloc(REGION_BYTES);
    try {
      for (let i = 0; i < 40; i++) {
        const length = 1 + Math.floor(random() * 300);
        const offset = Math.floor(random() * (REGION_BYTES - length));
        const data = Buffer.alloc(length);
        for (let j = 0; j < length; j++) data[j] = Math.floor(random() * 256);
        const w = await a.must({ op: 'write', peerId: 1, region: REGION, offset, hex: data.toString('hex') });
        expect(w.completion).toMatchObject({ peerId: 1, ok: true });
        data.copy(expected, offset);
        const r = await a.must({ op: 'read', peerId: 1, region: REGION, offset, length });
        expect(r.completion.ok).toBe(true);
        expect(r.hex).toBe(expected.subarray(offset, offset + length).toString('hex'));
      }
      expect(region.equals(expected)).toBe(true);
      // A range of the caller's buffer: exactly those bytes land (the leader writes its log this way).
      for (let i = 0; i < 10; i++) {
        const whole = Buffer.alloc(1 + Math.floor(random() * 300));
        for (let j = 0; j < whole.length; j++) whole[j] = Math.floor(random() * 256);
        const dataStart = Math.floor(random() * whole.length);
        const dataLength = Math.floor(random() * (whole.length - dataStart + 1));
        const offset = Math.floor(random() * (REGION_BYTES - dataLength));
        const w = await a.must({ op: 'write', peerId: 1, region: REGION, offset, hex: whole.toString('hex'), dataStart, dataLength });
        expect(w.completion).toMatchObject({ peerId: 1, ok: true });
        whole.copy(expected, offset, dataStart, dataStart + dataLength);
        expect(region.equals(expected)).toBe(true);
      }
      // the last byte is writable, one past it is not
      const last = await a.must({ op: 'write', peerId: 1, region: REGION, offset: REGION_BYTES - 1, hex: 'ab' });
      expect(last.completion.ok).toBe(true);
      expect(region[REGION_BYTES - 1]).toBe(0xab);
      const over = await a.must({ op: 'write', peerId: 1, region: REGION, offset: REGION_BYTES - 1, hex: 'abcd' });
      expect(over.completion).toMatchObject({ ok: false, error: 'bounds' });
      const missing = await a.must({ op: 'write', peerId: 1, region: 'nosuch', offset: 0, hex: 'ab' });
      expect(missing.completion).toMatchObject({ ok: false, error: 'no-region' });
    } catch (e) {
      throw new Error(`seed ${seed}: ${(e as Error).message}`);
    }
  });

  test(`${kind}: a revoked peer's writes fail with a permission error and never appear`, async () => {
    const a = await connectedWriter(2);
    const b = await connectedWriter(3);
    const denied = await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '01' });
    expect(denied.completion).toMatchObject({ ok: false, error: 'permission' });
    expect(region[0]).toBe(0);
    owner.grantWrite(REGION, 2);
    expect((await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '02' })).completion.ok).toBe(true);
    owner.grantWrite(REGION, 3); // revokes node 2
    const revoked = await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '03' });
    expect(revoked.completion).toMatchObject({ ok: false, error: 'permission' });
    expect(region[0]).toBe(2);
    expect((await b.must({ op: 'write', peerId: 1, region: REGION, offset: 1, hex: '04' })).completion.ok).toBe(true);
    expect(region.subarray(0, 2).toString('hex')).toBe('0204');
    owner.grantWrite(REGION, null);
    expect(owner.writeHolder(REGION)).toBeNull();
    const none = await b.must({ op: 'write', peerId: 1, region: REGION, offset: 1, hex: '05' });
    expect(none.completion).toMatchObject({ ok: false, error: 'permission' });
    expect(region[1]).toBe(4);
    // reads need no permission
    const r = await a.must({ op: 'read', peerId: 1, region: REGION, offset: 0, length: 2 });
    expect(r.hex).toBe('0204');
  });

  test(`${kind}: a peer's write into a watched region wakes the owner; other writes do not`, async () => {
    const a = await connectedWriter(2);
    const box = owner.registerRegion('mbox-2', 64);
    owner.grantWrite('mbox-2', 2);
    owner.grantWrite(REGION, 2);
    expect(owner.watchRemoteWrites('mbox-2')).toBe(true);
    const seen: string[] = [];
    // What the handler sees when it runs: the write has landed by then.
    owner.onRemoteWrite(() => seen.push(box.subarray(0, 2).toString('hex')));
    const settle = () => new Promise((r) => setTimeout(r, 200));
    try {
      // Unwatched region, and a watched one the writer may not write: no call.
      expect((await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '01' })).completion.ok).toBe(true);
      owner.grantWrite('mbox-2', null);
      expect((await a.must({ op: 'write', peerId: 1, region: 'mbox-2', offset: 0, hex: 'ee' })).completion).toMatchObject({ ok: false, error: 'permission' });
      await settle();
      expect(seen).toEqual([]);
      owner.grantWrite('mbox-2', 2);
      for (const hex of ['a1b1', 'a2b2']) {
        expect((await a.must({ op: 'write', peerId: 1, region: 'mbox-2', offset: 0, hex })).completion.ok).toBe(true);
        const deadline = Date.now() + 5000;
        while (!seen.includes(hex) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      }
      expect(seen).toEqual(['a1b1', 'a2b2']);
      owner.onRemoteWrite(null);
      expect((await a.must({ op: 'write', peerId: 1, region: 'mbox-2', offset: 0, hex: 'a3b3' })).completion.ok).toBe(true);
      await settle();
      expect(seen).toEqual(['a1b1', 'a2b2']);
    } finally {
      owner.onRemoteWrite(null);
    }
  });

  test(`${kind}: revoking while a writer hammers: nothing lands after revoke returns`, async () => {
    const a = await connectedWriter(2);
    owner.grantWrite(REGION, 2);
    const slots = REGION_BYTES / 8;
    const result = a.must({ op: 'hammer', peerId: 1, region: REGION, count: slots, window: kind === 'tcp' ? 16 : 1, announceAfter: 500, timeoutMs: 30000 }, 40000);
    await a.event('hammering');
    owner.grantWrite(REGION, null);
    const atRevoke = Buffer.from(region);
    const r = await result;
    expect(r.otherErrors).toEqual([]);
    expect(r.unfinished).toBe(0);
    expect(r.okSlots.length).toBeGreaterThanOrEqual(500);
    expect(r.permissionSlots.length).toBeGreaterThan(0);
    // No write landed after the revocation returned...
    expect(region.equals(atRevoke)).toBe(true);
    // ...every acknowledged write is there, and nothing else is.
    const ok = new Set<number>(r.okSlots);
    let landed = 0;
    for (let slot = 0; slot < r.posted; slot++) {
      const value = slotValue(region, slot);
      if (ok.has(slot)) expect(value).toBe(BigInt(slot + 1));
      else expect(value).toBe(0n);
      if (value !== 0n) landed++;
    }
    expect(landed).toBe(ok.size);
    // Writes complete in order per peer: once refused, every later write was refused too.
    const firstRefused = Math.min(...r.permissionSlots);
    expect(Math.max(...r.okSlots)).toBeLessThan(firstRefused);
  });

  test(`${kind}: a writer killed mid-stream leaves the owner working`, async () => {
    const a = await connectedWriter(2);
    owner.grantWrite(REGION, 2);
    const stream = a.call({ op: 'hammer', peerId: 1, region: REGION, count: 50_000_000, window: kind === 'tcp' ? 16 : 1, announceAfter: 500, timeoutMs: 30000 }, 40000);
    stream.catch(() => undefined);
    await a.event('hammering');
    await a.kill('SIGKILL');
    owner.grantWrite(REGION, 3);
    expect(owner.writeHolder(REGION)).toBe(3);
    const b = await connectedWriter(3);
    const w = await b.must({ op: 'write', peerId: 1, region: REGION, offset: 100, hex: 'beef' });
    expect(w.completion.ok).toBe(true);
    expect(region.subarray(100, 102).toString('hex')).toBe('beef');
    const r = await b.must({ op: 'read', peerId: 1, region: REGION, offset: 100, length: 2 });
    expect(r.hex).toBe('beef');
  });

  test(`${kind}: a writer to a closed owner gets 'gone' and reaches the restarted owner`, async () => {
    // tcp: the restarted owner must come back on the same port for the writer to find it.
    const listenPort = kind === 'tcp' ? await freePort() : 0;
    owner.close();
    owner = openFabric({ ...cluster.options(1), listenPort });
    region = owner.registerRegion(REGION, REGION_BYTES);
    owner.grantWrite(REGION, 2);
    const a = await connectedWriter(2);
    expect((await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '01' })).completion.ok).toBe(true);
    owner.close();
    const afterClose = await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '02' });
    expect(afterClose.completion).toMatchObject({ ok: false, error: 'gone' });
    owner = openFabric({ ...cluster.options(1), listenPort });
    region = owner.registerRegion(REGION, REGION_BYTES);
    owner.grantWrite(REGION, 2);
    expect((await a.must({ op: 'waitConnected', peerId: 1, timeoutMs: 5000 })).state).toBe('connected');
    const again = await a.must({ op: 'write', peerId: 1, region: REGION, offset: 0, hex: '07' });
    expect(again.completion.ok).toBe(true);
    expect(region[0]).toBe(7);
  });
}
