/**
 * tcp: who reads the answers. The JS thread reads them itself when it polls (reapCompletions);
 * the NIC thread reads them only while a waiter is parked in waitCompletions (nicReads), and
 * still notices a dead peer while it does not read. These tests pin that down.
 */
import { openFabric, NativeFabric } from '../../binding';
import type { Completion } from '../../binding/fabric';
import { allThreadsStopped, FabricChild, seededRandom, uniqueCluster } from './child';

const SECRET = 'reap-secret';

async function waitState(fabric: NativeFabric, peerId: number, want: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline && fabric.peerState(peerId) !== want; i++) await new Promise((r) => setTimeout(r, 5));
  return fabric.peerState(peerId);
}

describe('tcp: answers are read by the polling JS thread or, for a parked waiter, by the NIC thread', () => {
  let owner: NativeFabric;
  let writer: NativeFabric;
  let region: Buffer;

  beforeEach(async () => {
    const cluster = uniqueCluster('reap');
    owner = openFabric({ kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0 });
    writer = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0 });
    region = owner.registerRegion('log', 1 << 16);
    owner.grantWrite('log', 2);
    writer.connectPeer({ peerId: 1, host: '127.0.0.1', port: owner.listenPort });
    expect(await waitState(writer, 1, 'connected', 5000)).toBe('connected');
  });

  afterEach(() => {
    writer.close();
    owner.close();
  });

  test('spinning polls, parked waits and both mixed all see every completion (seeded)', async () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const context = (what: string) => `seed ${seed}: ${what}`;
    let completedBytes = 0;
    for (let round = 0; round < 300; round++) {
      const batch = 1 + Math.floor(random() * 8);
      const want = new Map<number, { offset: number; data: Buffer }>();
      for (let i = 0; i < batch; i++) {
        const offset = Math.floor(random() * 2000) * 32;
        const data = Buffer.alloc(1 + Math.floor(random() * 32), Math.floor(random() * 256));
        want.set(writer.postWrite(1, 'log', offset, data), { offset, data });
      }
      const mode = random() < 0.34 ? 'spin' : random() < 0.5 ? 'wait' : 'mixed';
      const spinsBeforeWait = mode === 'spin' ? 5_000_000 : mode === 'mixed' ? Math.floor(random() * 50) : 0;
      const got: Completion[] = [];
      const deadline = Date.now() + 10_000;
      for (let spins = 0; got.length < batch && Date.now() < deadline; spins++) {
        got.push(...writer.pollCompletions());
        if (got.length >= batch) break;
        if (spins >= spinsBeforeWait) {
          // A parked waiter must be woken by the answer, long before this timeout.
          const t0 = Date.now();
          await writer.waitCompletions(3000);
          if (Date.now() - t0 >= 2900)
            throw new Error(context(`round ${round} (${mode}): waitCompletions timed out with ${batch - got.length} answers outstanding`));
        }
      }
      if (got.length !== batch) throw new Error(context(`round ${round} (${mode}): ${got.length}/${batch} completions`));
      for (const c of got) {
        const w = want.get(c.wrId);
        if (!w || !c.ok) throw new Error(context(`round ${round}: unexpected completion ${JSON.stringify(c)}`));
        want.delete(c.wrId);
        completedBytes += w.data.length;
      }
    }
    expect(completedBytes).toBeGreaterThan(0);
  });

  test('the last write to each offset is what the owner holds, whichever thread read the acks', async () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const model = Buffer.alloc(region.length);
    const pending = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const offset = Math.floor(random() * (region.length - 64));
      const data = Buffer.alloc(1 + Math.floor(random() * 64));
      for (let j = 0; j < data.length; j++) data[j] = Math.floor(random() * 256);
      data.copy(model, offset);
      pending.add(writer.postWrite(1, 'log', offset, data));
      if (pending.size >= 16 || i === 1999) {
        const deadline = Date.now() + 10_000;
        while (pending.size > 0 && Date.now() < deadline) {
          for (const c of writer.pollCompletions()) {
            if (!c.ok) throw new Error(`seed ${seed}: ${JSON.stringify(c)}`);
            pending.delete(c.wrId);
          }
          if (pending.size > 0 && random() < 0.5) await writer.waitCompletions(1000);
        }
        if (pending.size > 0) throw new Error(`seed ${seed}: ${pending.size} writes unanswered`);
      }
    }
    if (!region.equals(model)) throw new Error(`seed ${seed}: the owner's region differs from the model`);
  });
});

describe('tcp: a dead owner is noticed while the writer is not reading', () => {
  const children: FabricChild[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill()));
  });

  test('SIGKILL of a stopped owner: pending writes fail as gone (connection reset), found by polling alone', async () => {
    const cluster = uniqueCluster('reapdead');
    const child = new FabricChild();
    children.push(child);
    const { listenPort } = await child.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0 } });
    await child.must({ op: 'register', name: 'log', bytes: 4096 });
    await child.must({ op: 'grant', region: 'log', peerId: 2 });
    const writer = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0 });
    try {
      writer.connectPeer({ peerId: 1, host: '127.0.0.1', port: listenPort });
      expect(await waitState(writer, 1, 'connected', 5000)).toBe('connected');
      // One answered write with spinning polls: the NIC thread is not reading this socket now.
      const first = writer.postWrite(1, 'log', 0, Buffer.from('ok'));
      let done: Completion[] = [];
      for (let i = 0; i < 5_000_000 && done.length === 0; i++) done = writer.pollCompletions();
      expect(done).toEqual([{ wrId: first, peerId: 1, ok: true }]);

      process.kill(child.pid, 'SIGSTOP'); // the owner's NIC thread cannot answer any more
      expect(await allThreadsStopped(child.pid, 5000)).toBe(true); // the signal is delivered asynchronously
      const stuck = writer.postWrite(1, 'log', 8, Buffer.from('lost'));
      expect(writer.pollCompletions()).toEqual([]);
      await child.kill('SIGKILL');
      // Only peerState, no poll or wait: the NIC thread sees the connection close (EPOLLRDHUP).
      expect(await waitState(writer, 1, 'unreachable', 5000)).toBe('unreachable');
      const failed = writer.pollCompletions();
      expect(failed).toEqual([expect.objectContaining({ wrId: stuck, peerId: 1, ok: false, error: 'gone' })]);
    } finally {
      writer.close();
    }
  });
});
