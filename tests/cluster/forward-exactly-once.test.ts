/**
 * Real processes on the shm and tcp fabrics: 16 connections increment one counter through a follower while
 * the leader is killed with SIGKILL. The increments the dead leader held when it died are sent again
 * by the follower with their tags, and the next leader answers each exactly once: from the log if
 * the old leader committed it, by doing it otherwise (daemon/cache/outcomes.ts). So no client gets
 * "link dropped" or "outcome unknown"; the answers are 1..N without a gap or a repeat, and every live
 * node holds N: nothing lost, nothing applied twice.
 */
import { TextConnection } from '../../loadgen/chaos/text-client';
import { exchange, makeCluster, TestCluster, waitForLeader, waitForValue } from '../helpers/cluster';

jest.setTimeout(120_000);

const CONNECTIONS = 16;
const BEFORE_KILL = 300;
const AFTER_KILL = 300;

async function statsOf(port: number): Promise<Record<string, string>> {
  const reply = await exchange(port, 'stats mu\r\n', (r) => r.endsWith('END\r\n'));
  return Object.fromEntries(reply.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => l.split(' ').slice(1, 3)));
}

/** Polls `cond` every 5 ms for at most `ms`. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

describe.each(['shm', 'tcp'] as const)('%s', (fabric) => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await makeCluster(3, fabric);
    for (const id of [1, 2, 3]) await cluster.start(id);
  });
  afterAll(async () => {
    await cluster?.stopAll();
  });

  const port = (id: number) => cluster.nodes[id - 1].clientPort;

  test('increments forwarded to a leader killed mid-write are applied exactly once and answered', async () => {
    const leader = await waitForLeader(cluster);
    // The highest id: it still follows after the kill, so its writes go to the next leader over
    // the daemons' link (the lower follower would take the lead and decide them itself).
    const follower = Math.max(...[1, 2, 3].filter((id) => id !== leader));
    expect(await exchange(port(follower), 'set ctr 0 0 1\r\n0\r\n', (r) => r.endsWith('\r\n'))).toBe('STORED\r\n');

    const answers: number[] = [];
    const errors: string[] = [];
    let stop = false;
    const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => TextConnection.open(port(follower), 2000)));
    const workers = conns.map(async (c) => {
      for (let sent = 0; !stop && sent < 5000; sent++) {
        try {
          const reply = await c.request('incr ctr 1\r\n', false, 15_000);
          if (/^\d+\r\n$/.test(reply)) answers.push(Number(reply.trim()));
          else errors.push(reply.trim());
        } catch (err) {
          errors.push(`client: ${(err as Error).message}`);
          return;
        }
      }
    });
    try {
      expect(await until(() => answers.length >= BEFORE_KILL || errors.length > 0, 20_000)).toBe(true);
      await cluster.kill(leader, 'SIGKILL');
      const atKill = answers.length;
      expect(await until(() => answers.length >= atKill + AFTER_KILL || errors.length > 20, 30_000)).toBe(true);
    } finally {
      stop = true;
      await Promise.all(workers);
      for (const c of conns) c.close();
    }

    // An error is allowed only if it says the write was not applied (it then counts for nothing).
    expect(errors.filter((e) => !/not applied/.test(e))).toEqual([]);
    const sorted = [...answers].sort((a, b) => a - b);
    expect(sorted).toEqual(Array.from({ length: answers.length }, (_, i) => i + 1));
    expect(await waitForLeader(cluster)).not.toBe(leader);
    const live = [1, 2, 3].filter((n) => n !== leader);
    for (const id of live) await waitForValue(port(id), 'ctr', String(answers.length));
    // Every node recorded the forwarded increments' outcomes (each a retry could ask for).
    const stats = await Promise.all(live.map((id) => statsOf(port(id))));
    for (const st of stats) expect(Number(st.mu_outcome_records)).toBeGreaterThanOrEqual(answers.length);
    const sum = (k: string) => stats.reduce((n, st) => n + Number(st[k]), 0);
    // eslint-disable-next-line no-console
    console.log(`${fabric}: ${answers.length} increments through node ${follower} across the SIGKILL of leader ${leader}, ${errors.length} refused as not applied; ` +
      `${sum('mu_forwards_resent')} sent again, ${sum('mu_forwards_answered_from_record')} answered from the record, ${sum('mu_forwards_joined_in_flight')} joined a decision in flight`);
  });
});
