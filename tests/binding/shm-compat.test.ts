/**
 * shm region files made by an older build (before the liveness lock) must still be usable, so that
 * the nodes of one host can be upgraded one at a time. Such a file has zeros where the newer
 * header fields are: the newer build then tells its owner's life by pid, as the older one did.
 * The offsets are pinned by a static_assert in binding/src/shm_region.h.
 */
import * as fs from 'fs';
import * as path from 'path';
import { openFabric } from '../../binding';
import { shmCluster } from './backend-suite';
import { FabricChild } from './child';

const LIVENESS_HELD_OFFSET = 72;
const LIVENESS_FUTEX_WORD_OFFSET = 80;

test('a region whose header has no liveness lock (an older build) is alive while its owner pid lives, gone after', async () => {
  const cluster = shmCluster();
  const owner = new FabricChild();
  const me = openFabric(cluster.options(2));
  try {
    await owner.must({ op: 'open', options: cluster.options(1) });
    await owner.must({ op: 'register', name: 'log', bytes: 4096 });
    await owner.must({ op: 'grant', region: 'log', peerId: 2 });
    // Make the header what an older build wrote: zeros in the newer fields (only the futex word of
    // the mutex: its list links belong to the owner's thread, which is still running).
    const { shmDir, cluster: name } = cluster.options(1) as { shmDir: string; cluster: string };
    const fd = fs.openSync(path.join(shmDir, `mucached-${name}-n1-log`), 'r+');
    fs.writeSync(fd, Buffer.alloc(4), 0, 4, LIVENESS_HELD_OFFSET);
    fs.writeSync(fd, Buffer.alloc(4), 0, 4, LIVENESS_FUTEX_WORD_OFFSET);
    fs.closeSync(fd);

    me.connectPeer({ peerId: 1 });
    const into = Buffer.alloc(2);
    const once = (post: () => number) => {
      const wrId = post();
      const c = me.pollCompletions(16).find((x) => x.wrId === wrId);
      if (c === undefined) throw new Error('shm completes before the post returns');
      return c;
    };
    expect(once(() => me.postWrite(1, 'log', 8, Buffer.from([0xbe, 0xef])))).toMatchObject({ ok: true });
    expect(once(() => me.postRead(1, 'log', 8, 2, into))).toMatchObject({ ok: true });
    expect(into.toString('hex')).toBe('beef');

    await owner.kill('SIGKILL'); // and reaped: by pid it is gone now
    await new Promise((r) => setTimeout(r, 5)); // past the pid check's 1 ms cache
    expect(once(() => me.postRead(1, 'log', 8, 2, into))).toMatchObject({ ok: false, error: 'gone' });
  } finally {
    me.close();
    await owner.stop();
    cluster.cleanup();
  }
});
