/**
 * Fabric.armGrant on the real backends: the fabric's own thread hands a region to the grantee and
 * writes its box when the armed-for peer's process is SIGKILLed (shm: its liveness lock; tcp: its
 * death herald), with no call from JS in between. Node 1 (the dying leader) is a child process;
 * nodes 2 (the follower that arms) and 3 (the grantee) are fabrics of this process.
 */
import { openFabric } from '../../binding';
import { shmCluster } from './backend-suite';
import { FabricChild, uniqueCluster } from './child';

/** Polls `done` every millisecond, at most `ms`; the JS thread stays free meanwhile. */
async function within(ms: number, done: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

describe('shm: an armed grant', () => {
  test('is made as the holder\'s process is killed, and only then; grantWrite and a holder that changed call it off', async () => {
    const cluster = shmCluster();
    const follower = openFabric(cluster.options(2));
    const grantee = openFabric(cluster.options(3));
    const leaders: FabricChild[] = [];
    const startLeader = async () => {
      const leader = new FabricChild();
      leaders.push(leader);
      await leader.must({ op: 'open', options: cluster.options(1) });
      await leader.must({ op: 'register', name: 'ctl', bytes: 64 });
      return leader;
    };
    let gone = 0;
    follower.onPeerGone(() => { gone++; });
    try {
      follower.registerRegion('log', 4096);
      const box = grantee.registerRegion('mbox-2', 64);
      grantee.grantWrite('mbox-2', 2);
      follower.connectPeer({ peerId: 1 });
      follower.connectPeer({ peerId: 3 });
      grantee.connectPeer({ peerId: 2 });
      const arm = { whenGone: 1, region: 'log', grantee: 3, boxRegion: 'mbox-2', boxOffset: 8, box: Buffer.from('cafe', 'hex'), tag: 7 };
      expect(() => follower.armGrant(arm)).toThrow(/not watched/);
      expect(follower.watchPeerGone(1, 'ctl')).toBe(true);

      // Made on the kill.
      const first = await startLeader();
      follower.grantWrite('log', 1);
      expect(follower.armGrant(arm)).toBe(true);
      expect(await within(300, () => follower.takeArmedGrants().length > 0)).toBe(false);
      expect(follower.writeHolder('log')).toBe(1);
      process.kill(first.pid, 'SIGKILL');
      expect(await within(10_000, () => follower.writeHolder('log') === 3)).toBe(true);
      expect(box.subarray(8, 10).toString('hex')).toBe('cafe');
      expect(follower.takeArmedGrants()).toEqual([{ whenGone: 1, grantee: 3, region: 'log', tag: 7 }]);
      expect(follower.takeArmedGrants()).toEqual([]);
      await first.stop();

      // Called off by a grant from JS: the next death of node 1 changes nothing.
      box.fill(0);
      const second = await startLeader();
      follower.grantWrite('log', 1);
      expect(follower.armGrant(arm)).toBe(true);
      follower.grantWrite('log', 1);
      const goneBefore = gone;
      process.kill(second.pid, 'SIGKILL');
      expect(await within(10_000, () => gone > goneBefore)).toBe(true);
      expect(follower.writeHolder('log')).toBe(1);
      expect(follower.takeArmedGrants()).toEqual([]);
      expect(box.subarray(8, 10).toString('hex')).toBe('0000');
      await second.stop();

      // Not made when the dead peer no longer held the region (its arm is spent all the same).
      const third = await startLeader();
      follower.grantWrite('log', null);
      expect(follower.armGrant(arm)).toBe(true);
      const goneBefore3 = gone;
      process.kill(third.pid, 'SIGKILL');
      expect(await within(10_000, () => gone > goneBefore3)).toBe(true);
      expect(follower.writeHolder('log')).toBe(null);
      expect(follower.takeArmedGrants()).toEqual([]);
      await third.stop();
    } finally {
      follower.close();
      grantee.close();
      await Promise.all(leaders.map((l) => l.stop()));
      cluster.cleanup();
    }
  });
});

describe('tcp: an armed grant', () => {
  test('is made on the dead node\'s herald\'s word, and the box reaches the grantee with no completion at the arming node', async () => {
    const cluster = uniqueCluster('armed');
    const secret = 'armed-secret';
    const follower = openFabric({ kind: 'tcp', selfId: 2, cluster, secret, listenHost: '127.0.0.1', listenPort: 0, herald: false });
    const grantee = openFabric({ kind: 'tcp', selfId: 3, cluster, secret, listenHost: '127.0.0.1', listenPort: 0, herald: false });
    const leader = new FabricChild();
    try {
      follower.registerRegion('log', 4096);
      const box = grantee.registerRegion('mbox-2', 64);
      grantee.grantWrite('mbox-2', 2);
      const opened = await leader.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret, listenHost: '127.0.0.1', listenPort: 0, herald: true } });
      await leader.must({ op: 'register', name: 'ctl', bytes: 64 });
      await leader.must({ op: 'connect', peerId: 2, host: '127.0.0.1', port: follower.listenPort });
      follower.connectPeer({ peerId: 1, host: '127.0.0.1', port: opened.listenPort as number });
      follower.connectPeer({ peerId: 3, host: '127.0.0.1', port: grantee.listenPort });
      expect(follower.watchPeerGone(1, 'ctl')).toBe(true);
      expect(await within(5000, () => follower.peerState(1) === 'connected' && follower.peerState(3) === 'connected' && follower.heraldConnected(1))).toBe(true);
      follower.grantWrite('log', 1);
      // A grantee this node has no connection to could not get its box: nothing is armed.
      expect(follower.armGrant({ whenGone: 1, region: 'log', grantee: 4, boxRegion: 'mbox-2', boxOffset: 8, box: Buffer.from('cafe', 'hex'), tag: 7 })).toBe(false);
      expect(follower.armGrant({ whenGone: 1, region: 'log', grantee: 3, boxRegion: 'mbox-2', boxOffset: 8, box: Buffer.from('cafe', 'hex'), tag: 7 })).toBe(true);
      expect(await within(300, () => follower.takeArmedGrants().length > 0)).toBe(false);
      await leader.kill('SIGKILL');
      expect(await within(10_000, () => follower.writeHolder('log') === 3 && box.subarray(8, 10).toString('hex') === 'cafe')).toBe(true);
      expect(follower.takeArmedGrants()).toEqual([{ whenGone: 1, grantee: 3, region: 'log', tag: 7 }]);
      // The box's write is the backend's own: its acknowledgement is no completion of the caller's.
      await new Promise((r) => setTimeout(r, 50));
      expect(follower.pollCompletions()).toEqual([]);
    } finally {
      follower.close();
      grantee.close();
      await leader.stop();
    }
  });
});
