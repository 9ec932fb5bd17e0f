import { openFabric } from '../../binding';
import { backendSuite, shmCluster } from './backend-suite';
import { FabricChild } from './child';

backendSuite('shm', shmCluster);

describe('shm: a crashed writer holding the lock', () => {
  test('does not wedge the owner (robust lock)', async () => {
    const cluster = shmCluster();
    const owner = new FabricChild();
    const writer = new FabricChild();
    try {
      await owner.must({ op: 'open', options: cluster.options(1) });
      await owner.must({ op: 'register', name: 'log', bytes: 4096 });
      await owner.must({ op: 'grant', region: 'log', peerId: 2 });
      await writer.must({ op: 'open', options: cluster.options(2) });
      await writer.must({ op: 'connect', peerId: 1 });
      const held = writer.call({ op: 'holdLock', peerId: 1, region: 'log', ms: 60000 }, 70000);
      held.catch(() => undefined);
      await writer.event('holding');
      await writer.kill('SIGKILL');
      // The owner's revocation takes the same lock: it must get it back from the dead writer.
      await owner.must({ op: 'grant', region: 'log', peerId: 3 }, 5000);
      const reader = new FabricChild();
      try {
        await reader.must({ op: 'open', options: cluster.options(3) });
        await reader.must({ op: 'connect', peerId: 1 });
        const w = await reader.must({ op: 'write', peerId: 1, region: 'log', offset: 8, hex: 'cafe' }, 5000);
        expect(w.completion.ok).toBe(true);
        const r = await reader.must({ op: 'read', peerId: 1, region: 'log', offset: 8, length: 2 });
        expect(r.hex).toBe('cafe');
      } finally {
        await reader.stop();
      }
      await owner.stop();
      expect(owner.stderr()).toMatch(/died holding the lock/);
    } finally {
      await writer.stop();
      await owner.stop();
      cluster.cleanup();
    }
  });
});

describe('shm: a killed owner', () => {
  // Tearing a Node process down after SIGKILL takes milliseconds, and until its parent reaps it
  // the pid still answers kill(pid, 0). The fabric must report the owner gone from its liveness
  // lock instead. This test keeps its own event loop busy, so the killed child stays unreaped.
  test('is gone at once, while its process is not yet reaped', async () => {
    const cluster = shmCluster();
    const me = openFabric(cluster.options(2));
    const owner = new FabricChild();
    try {
      await owner.must({ op: 'open', options: cluster.options(1) });
      await owner.must({ op: 'register', name: 'log', bytes: 4096 });
      me.connectPeer({ peerId: 1 });
      const into = Buffer.alloc(8);
      const readOnce = () => {
        const wrId = me.postRead(1, 'log', 0, 8, into);
        const c = me.pollCompletions(16).find((x) => x.wrId === wrId);
        if (c === undefined) throw new Error('shm completes a read before postRead returns');
        return c;
      };
      expect(readOnce().ok).toBe(true);
      process.kill(owner.pid, 'SIGKILL');
      // Synchronous from here: Node reaps children only from its event loop.
      const start = Date.now();
      let last = readOnce();
      for (let i = 0; i < 10_000_000 && last.ok && Date.now() - start < 2000; i++) last = readOnce();
      const reapedMeanwhile = (() => {
        try {
          process.kill(owner.pid, 0);
          return false;
        } catch {
          return true;
        }
      })();
      expect(reapedMeanwhile).toBe(false);
      expect(last.ok).toBe(false);
      expect(last.error).toBe('gone');
      expect(last.detail).toMatch(/is dead/);
    } finally {
      me.close();
      await owner.stop();
      cluster.cleanup();
    }
  });
});

describe('shm: watching a peer', () => {
  /** Resolves at the next onPeerGone call, or with false after `ms`. */
  const nextGone = (f: ReturnType<typeof openFabric>, ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { f.onPeerGone(null); resolve(false); }, ms);
      f.onPeerGone(() => { clearTimeout(timer); f.onPeerGone(null); resolve(true); });
    });

  test('tells when the peer is killed or closes, and not while it lives', async () => {
    const cluster = shmCluster();
    const me = openFabric(cluster.options(2));
    const owners: FabricChild[] = [];
    try {
      me.connectPeer({ peerId: 1 });
      // Watching may start before the peer exists: its region file is found when it appears.
      expect(me.watchPeerGone(1, 'ctl')).toBe(true);
      const start = async () => {
        const owner = new FabricChild();
        owners.push(owner);
        await owner.must({ op: 'open', options: cluster.options(1) });
        await owner.must({ op: 'register', name: 'ctl', bytes: 64 });
        return owner;
      };
      const first = await start();
      expect(await nextGone(me, 400)).toBe(false);
      const gone = nextGone(me, 10_000);
      process.kill(first.pid, 'SIGKILL');
      expect(await gone).toBe(true);
      const into = Buffer.alloc(8);
      const wrId = me.postRead(1, 'ctl', 0, 8, into);
      expect(me.pollCompletions(16).find((c) => c.wrId === wrId)).toMatchObject({ ok: false, error: 'gone' });
      await first.stop();
      // A new incarnation of node 1 is watched too, and a clean close counts as gone.
      const second = await start();
      expect(await nextGone(me, 400)).toBe(false);
      const closed = nextGone(me, 10_000);
      await second.stop();
      expect(await closed).toBe(true);
    } finally {
      me.close();
      await Promise.all(owners.map((o) => o.stop()));
      cluster.cleanup();
    }
  });
});

describe('shm: node identity', () => {
  test('a second live process cannot open the same node id', async () => {
    const cluster = shmCluster();
    const first = new FabricChild();
    try {
      await first.must({ op: 'open', options: cluster.options(1) });
      expect(() => openFabric(cluster.options(1))).toThrow(/already running as pid/);
    } finally {
      await first.stop();
      cluster.cleanup();
    }
  });

  test('peer state follows the peer process', async () => {
    const cluster = shmCluster();
    const me = openFabric(cluster.options(2));
    const peer = new FabricChild();
    try {
      expect(me.peerState(1)).toBe('unreachable'); // not connected
      me.connectPeer({ peerId: 1 });
      expect(me.peerState(1)).toBe('connecting'); // not started
      await peer.must({ op: 'open', options: cluster.options(1) });
      expect(me.peerState(1)).toBe('connected');
      await peer.kill('SIGKILL');
      expect(me.peerState(1)).toBe('unreachable');
    } finally {
      me.close();
      await peer.stop();
      cluster.cleanup();
    }
  });
});
