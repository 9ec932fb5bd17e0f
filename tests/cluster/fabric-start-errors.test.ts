/**
 * A cluster node whose fabric cannot open says so in one line and exits with a status systemd can
 * act on, instead of a stack trace: a verbs config on a host without an RDMA device (this machine
 * has none) exits with EX_CONFIG (78, which the unit does not restart); a second process for a
 * node that already runs on shm exits with EX_OSERR (71).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { daemonCli } from '../helpers/procs';
import { exchange, makeCluster, TestCluster } from '../helpers/cluster';

jest.setTimeout(60_000);

let cluster: TestCluster | undefined;
afterEach(async () => { await cluster?.stopAll(); cluster = undefined; });

function runNode(configFile: string, id: number): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [daemonCli, '--id', String(id), '--config', configFile], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('verbs without an RDMA device: one line naming the fabric and the cause, exit 78', async () => {
  cluster = await makeCluster(3, 'shm');
  const config = JSON.parse(fs.readFileSync(cluster.configFile, 'utf8'));
  config.fabric = { kind: 'verbs' };
  const verbsFile = path.join(cluster.dir, 'verbs.json');
  fs.writeFileSync(verbsFile, JSON.stringify(config));
  const { status, output } = runNode(verbsFile, 1);
  expect(status).toBe(78);
  expect(output).toMatch(/cannot open the verbs fabric: no RDMA device found .*select another fabric/);
  expect(output).not.toMatch(/\n\s+at /);
});

test('a second process for a node already running on shm: one line, exit 71, the first keeps serving', async () => {
  cluster = await makeCluster(3, 'shm');
  await cluster.start(1);
  const { status, output } = runNode(cluster.configFile, 1);
  expect(status).toBe(71);
  expect(output).toMatch(/cannot open the shm fabric: .*node 1 .* already running as pid \d+/);
  expect(output).not.toMatch(/\n\s+at /);
  const first = cluster.nodes[0].proc!;
  expect(first.exitCode).toBeNull();
  expect(first.signalCode).toBeNull();
  expect(await exchange(cluster.nodes[0].clientPort, 'stats mu\r\n', (r) => r.endsWith('END\r\n'))).toMatch(/STAT mu_role /);
});
