/**
 * A node that stands for leader but lacks entries no log holds any more fetches a snapshot from a
 * peer (mu-core's fetchSnapshot hook). The peer ships it in parts over its own link, as it does to
 * a lagging follower, never as one reply holding the whole store. Real daemons (nodes 1 and 2 of a
 * 3-node shm cluster); node 3 is played by this test: its peer listener, with the cluster secret,
 * collects the parts.
 */
import * as fs from 'fs';
import { PeerDialer, PeerListener } from '../../daemon/cluster/peer-link';
import { exchange, makeCluster, TestCluster, waitForLeader } from '../helpers/cluster';

jest.setTimeout(120_000);
jest.retryTimes(2, { logErrorsBeforeRetry: true });

const ITEMS = 3000;
/** SNAPSHOT_BATCH_ITEMS in daemon/cluster/replica.ts. */
const ITEMS_PER_PART = 512;

interface NodeConfig { id: number; peerPort: number }
interface Part { index: number; part: number; done: boolean; keys: string[]; transfer: string }

let cluster: TestCluster;
const closers: Array<() => void> = [];

// After each attempt (a retry makes a new cluster): nothing of a failed attempt is left running.
afterEach(async () => {
  closers.splice(0).forEach((close) => close());
  await cluster?.stopAll();
});

test('snapshot-request: the store arrives as numbered parts of one transfer, every item once', async () => {
  cluster = await makeCluster(3, 'shm', ['-m', '32']);
  await Promise.all([1, 2].map((id) => cluster.start(id)));
  const leader = await waitForLeader(cluster);
  const leaderPort = cluster.nodes[leader - 1].clientPort;

  // Pipelined sets, the last one acknowledged: replies come in order, so all are applied.
  const sets = Array.from({ length: ITEMS }, (_, i) => `set snap-${i} ${i} 0 ${String(i).length} noreply\r\n${i}\r\n`).join('');
  expect(await exchange(leaderPort, `${sets}set snap-last 0 0 1\r\nx\r\n`, (r) => r.endsWith('\r\n'), 30_000)).toBe('STORED\r\n');

  const config = JSON.parse(fs.readFileSync(cluster.configFile, 'utf8')) as { cluster: string; secret: string; nodes: NodeConfig[] };
  const parts: Part[] = [];
  const node3 = new PeerListener(config.secret, new Set([1, 2, 3]), async (from, req) => {
    if (req.t !== 'snapshot-part' || from !== leader) throw new Error(`unexpected ${String(req.t)} from node ${from}`);
    const effects = req.effects as Array<{ key: Buffer; value: Buffer; flags: number }>;
    // Every item comes whole: key, value and flags as set above.
    for (const e of effects) {
      const k = e.key.toString('latin1');
      if (k.startsWith('snap-') && k !== 'snap-last') expect([e.value.toString(), e.flags]).toEqual([k.slice(5), Number(k.slice(5))]);
    }
    parts.push({ index: Number(req.index), part: Number(req.part), done: req.done === true, keys: effects.map((e) => e.key.toString('latin1')), transfer: String(req.transfer) });
    return {};
  }, { info: () => undefined }, { selfId: 3, cluster: config.cluster });
  closers.push(() => node3.close());
  await node3.listen('127.0.0.1', config.nodes[2].peerPort);

  const dialer = new PeerDialer(3, config.secret, '127.0.0.1', config.nodes[leader - 1].peerPort, 2000, { peerId: leader, cluster: config.cluster });
  closers.push(() => dialer.close());
  const reply = await dialer.request({ t: 'snapshot-request' }, 10_000);
  expect('effects' in reply).toBe(false); // the store is not in the reply

  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 10_000 && Date.now() < deadline && !parts.some((p) => p.done); i++) await new Promise((r) => setTimeout(r, 20));
  expect(parts.some((p) => p.done)).toBe(true);
  expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i));
  expect(new Set(parts.map((p) => p.transfer)).size).toBe(1);
  expect(new Set(parts.map((p) => p.index)).size).toBe(1);
  expect(parts.length).toBe(Math.ceil((ITEMS + 1) / ITEMS_PER_PART));
  const keys = parts.flatMap((p) => p.keys);
  expect(keys.length).toBe(ITEMS + 1);
  expect(new Set(keys).size).toBe(ITEMS + 1);
});
