/**
 * A cache with no authentication must not be reachable from the network by accident: with no `-l`,
 * the daemon listens on loopback only, and a cluster node listens (client, fabric and peer ports)
 * only on the host its config names. Checked from the kernel's socket table, not by connecting
 * from another address. With -l, it listens on each interface named (memcached's list forms), and
 * serves clients on all of them; one it cannot bind stops the start, naming it.
 */
import * as fs from 'fs';
import * as net from 'net';
import { spawn, spawnSync } from 'child_process';
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
  if (hex === '0'.repeat(32)) return '::';
  return hex === '0'.repeat(24) + '01000000' ? '::1' : `ipv6:${hex}`;
}

/** One text command over a new connection to host:port; its reply up to `until` (default: the first line). */
function ask(host: string, port: number, command: string, until = '\r\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let reply = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply from ${host}:${port}`)); }, 5000);
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.includes(until)) { clearTimeout(timer); socket.destroy(); resolve(until === '\r\n' ? reply.split('\r\n')[0] : reply); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.write(command);
  });
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

  it('-l given as a list and repeated: listens on every interface named, each serving the same cache', async () => {
    const [port, otherPort] = [await freePort(), await freePort()];
    const proc = spawn(process.execPath, [daemonCli, '-p', String(port), '-l', '127.0.0.1,::1', '-l', `127.0.0.1:${otherPort}`], { stdio: 'ignore' });
    try {
      await waitForPort(port, 10_000, proc);
      await waitForPort(otherPort, 10_000, proc);
      expect(listenersOn(port).sort()).toEqual([`127.0.0.1:${port}`, `::1:${port}`]);
      expect(listenersOn(otherPort)).toEqual([`127.0.0.1:${otherPort}`]);
      expect(await ask('::1', port, 'set via6 0 0 2\r\nv6\r\n')).toBe('STORED');
      expect(await ask('127.0.0.1', otherPort, 'get via6\r\n')).toBe('VALUE via6 0 2');
      // memcached's stats settings show -l as given.
      expect(await ask('127.0.0.1', port, 'stats settings\r\n', 'END\r\n')).toContain(`STAT inter 127.0.0.1,::1,127.0.0.1:${otherPort}\r\n`);
    } finally {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      process.kill(proc.pid!, 'SIGTERM');
      await exited;
    }
  });

  it('an interface it cannot listen on stops the start with the interface named', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      const port = await freePort();
      const r = spawnSync(process.execPath, [daemonCli, '-p', String(port), '-l', `127.0.0.1,127.0.0.1:${takenPort}`], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(71);
      expect(r.stderr + r.stdout).toContain(`cannot start on 127.0.0.1:${takenPort}: listen EADDRINUSE`);
      const bad = spawnSync(process.execPath, [daemonCli, '-l', '127.0.0.1:65536'], { encoding: 'utf8', timeout: 20_000 });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain('-l 127.0.0.1:65536 names port "65536": a port is a number from 0 to 65535');
    } finally {
      taken.close();
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
