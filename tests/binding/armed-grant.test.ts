/**
 * Fabric.armGrant on the real shm backend: the watcher thread hands a region to the grantee and
 * writes its box when the armed-for peer's process is SIGKILLed, with no call from JS in between.
 * Node 1 (the dying leader) is a child process; nodes 2 (the follower that arms) and 3 (the grantee)
 * are fabrics of this process.
 */
import { openFabric } from '../../binding';
import { shmCluster, tcpCluster } from './backend-suite';
import { FabricChild } from './child';

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
  test('is refused (the node grants from its JS thread there)', () => {
    const cluster = tcpCluster();
    const f = openFabric(cluster.options(2));
    try {
      f.registerRegion('log', 4096);
      expect(f.armGrant({ whenGone: 1, region: 'log', grantee: 3, boxRegion: 'mbox-2', boxOffset: 0, box: Buffer.alloc(8), tag: 1 })).toBe(false);
      expect(f.takeArmedGrants()).toEqual([]);
    } finally {
      f.close();
      cluster.cleanup();
    }
  });
});
