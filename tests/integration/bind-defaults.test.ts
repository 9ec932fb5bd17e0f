/**
 * A cache with no authentication must not be reachable from the network by accident: with no `-l`,
 * the daemon listens on loopback only, and a cluster node listens (client, fabric and peer ports)
 * only on the host its config names. Checked from the kernel's socket table, not by connecting
 * from another address.
 */
import * as fs from 'fs';
import { spawn } from 'child_process';
import { daemonCli, freePort, waitForPort } from '../helpers/procs';
import { makeCluster, waitForLeader } from '../helpers/cluster';

const TCP_LISTEN = '0A';

/** Local addresses (ip:port) of the listening TCP sockets on `port`, from /proc/net/tcp and tcp6. */
function listenersOn(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue;
    for (const row of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== TCP_LISTEN) continue;
      const [hexIp, hexPort] = cols[1].split(':');
      if (parseInt(hexPort, 16) !== port) continue;
      out.push(`${decodeIp(hexIp)}:${port}`);
    }
  }
  return out;
}

function decodeIp(hex: string): string {
  if (hex.length === 8) {
    // IPv4 in /proc is the address's bytes in host (little endian) order.
    return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  return hex === '0'.repeat(32) ? '::' : `ipv6:${hex}`;
}

describe('listen addresses', () => {
  it('a single node started without -l listens on 127.0.0.1 only', async () => {
    // Not startMucached: it passes -l explicitly, and the default is what is under test.
    const port = await freePort();
    const proc = spawn(process.execPath, [daemonCli, '-p', String(port)], { stdio: 'ignore' });
    try {
      await waitForPort(port, 10_000, proc);
      expect(listenersOn(port)).toEqual([`127.0.0.1:${port}`]);
    } finally {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      process.kill(proc.pid!, 'SIGTERM');
      await exited;
    }
  });

  it('a tcp cluster node listens only on its configured host, on every port it opens', async () => {
    const cluster = await makeCluster(3, 'tcp');
    try {
      for (const n of cluster.nodes) await cluster.start(n.id);
      await waitForLeader(cluster);
      const config = JSON.parse(fs.readFileSync(cluster.configFile, 'utf8')) as { nodes: Array<{ host: string; clientPort: number; fabricPort: number; peerPort: number }> };
      for (const node of config.nodes) {
        for (const port of [node.clientPort, node.fabricPort, node.peerPort]) {
          expect(listenersOn(port)).toEqual([`${node.host}:${port}`]);
        }
      }
    } finally {
      await cluster.stopAll();
    }
  });
});
