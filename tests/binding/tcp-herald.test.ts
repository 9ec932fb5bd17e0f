/**
 * tcp: the death herald (binding/src/herald.h). A node's helper process tells its peers that the
 * node died as the kernel starts to tear it down, instead of the peers waiting for the kernel to
 * close the dead process's sockets once its memory is gone. Only an authenticated herald of that
 * very node may say so, a clean close says nothing, and a false report costs a reconnect only.
 */
import { openFabric, NativeFabric } from '../../binding';
import type { Completion } from '../../binding/fabric';
import { allThreadsStopped, FabricChild, uniqueCluster } from './child';
import { FRAME, RawConn, frame } from './wire';
import { processAlive } from '../../loadgen/wait';

const SECRET = 'herald-secret';
/** Touched memory in the dying node: its kernel then takes tens of ms before closing its sockets. */
const BALLAST_MB = 300;

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  if (!check()) throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

async function completionOf(fabric: NativeFabric, wrId: number, timeoutMs = 5000): Promise<Completion> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const found = fabric.pollCompletions().find((c) => c.wrId === wrId);
    if (found) return found;
    await fabric.waitCompletions(Math.max(1, deadline - Date.now()));
  }
  throw new Error(`no completion for wr ${wrId} within ${timeoutMs} ms`);
}

describe('tcp death herald', () => {
  const children: FabricChild[] = [];
  const fabrics: NativeFabric[] = [];
  const conns: RawConn[] = [];

  afterEach(async () => {
    conns.splice(0).forEach((c) => c.destroy());
    fabrics.splice(0).forEach((f) => f.close());
    await Promise.all(children.splice(0).map((c) => c.stop()));
  });

  /** Node 1 in a child process (with its herald unless told otherwise), node 2 here; each connected to the other. */
  async function pair(herald = true): Promise<{ child: FabricChild; node2: NativeFabric; heraldPid: number }> {
    const cluster = uniqueCluster('herald');
    const node2 = openFabric({ kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0, herald: false });
    fabrics.push(node2);
    const child = new FabricChild();
    children.push(child);
    const opened = await child.must({ op: 'open', options: { kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0, herald } });
    await child.must({ op: 'register', name: 'log', bytes: 4096 });
    await child.must({ op: 'grant', region: 'log', peerId: 2 });
    await child.must({ op: 'connect', peerId: 2, host: '127.0.0.1', port: node2.listenPort });
    node2.connectPeer({ peerId: 1, host: '127.0.0.1', port: opened.listenPort as number });
    await until('node 2 connected to node 1', () => node2.peerState(1) === 'connected');
    return { child, node2, heraldPid: opened.heraldPid as number };
  }

  test('SIGKILL: the herald fails the peers\' connection to the dead node as gone, before its kernel closes the sockets', async () => {
    const { child, node2, heraldPid } = await pair();
    expect(heraldPid).toBeGreaterThan(0);
    await until('node 1\'s herald connected to node 2', () => node2.heraldConnected(1));
    await child.must({ op: 'ballast', mb: BALLAST_MB }, 30_000);
    process.kill(child.pid, 'SIGSTOP'); // node 1's NIC thread answers nothing from now on
    expect(await allThreadsStopped(child.pid, 5000)).toBe(true);
    const stuck = node2.postWrite(1, 'log', 0, Buffer.from('in flight'));
    expect(node2.pollCompletions()).toEqual([]);
    await child.kill('SIGKILL');
    const c = await completionOf(node2, stuck);
    expect(c).toEqual(expect.objectContaining({ ok: false, error: 'gone' }));
    // The herald's report, not the connection's close (which would say "connection closed by peer").
    expect(c.detail).toContain('its process died (its herald said so)');
    expect(child.stderr()).toContain('[herald of node 1] node died; told node(s) 2');
    // Until a new incarnation answers, work for node 1 fails at once as gone.
    const after = await completionOf(node2, node2.postRead(1, 'log', 0, 8, Buffer.alloc(8)));
    expect(after).toEqual(expect.objectContaining({ ok: false, error: 'gone' }));
  });

  test('a clean close: the herald exits without a word and is reaped by close()', async () => {
    const { child, node2, heraldPid } = await pair();
    await until('node 1\'s herald connected to node 2', () => node2.heraldConnected(1));
    expect(processAlive(heraldPid)).toBe(true);
    await child.must({ op: 'close' });
    expect(processAlive(heraldPid)).toBe(false); // exited and reaped before close() returned
    await until('node 1\'s herald gone from node 2', () => !node2.heraldConnected(1));
    expect(child.stderr()).not.toContain('node died');
  });

  test('without a herald (herald: false) no helper runs', async () => {
    const { heraldPid } = await pair(false);
    expect(heraldPid).toBe(0);
  });

  test('DEATH is heeded only from an authenticated herald; a false report costs a reconnect, nothing else', async () => {
    // Node 2 in a child this time (its log lines are the evidence), node 1 here, without a herald.
    const cluster = uniqueCluster('heraldwire');
    const node1 = openFabric({ kind: 'tcp', selfId: 1, cluster, secret: SECRET, listenPort: 0, herald: false });
    fabrics.push(node1);
    node1.registerRegion('log', 4096);
    const child = new FabricChild();
    children.push(child);
    const opened = await child.must({ op: 'open', options: { kind: 'tcp', selfId: 2, cluster, secret: SECRET, listenPort: 0, herald: false } });
    const node2Port = opened.listenPort as number;
    await child.must({ op: 'connect', peerId: 1, host: '127.0.0.1', port: node1.listenPort });
    expect((await child.must({ op: 'waitConnected', peerId: 1 })).state).toBe('connected');
    const readNode1 = async () => (await child.must({ op: 'read', peerId: 1, region: 'log', offset: 0, length: 8 })).completion as Completion;
    const death = frame(Buffer.from([FRAME.death]));

    // Before authentication: dropped.
    const early = await RawConn.connect(node2Port);
    conns.push(early);
    expect((await early.nextFrame())?.[0]).toBe(FRAME.hello);
    early.send(death);
    expect(await early.waitClosed()).toBe(true);

    // As node 1 the peer (not its herald): DEATH is not a peer's frame; the connection is dropped.
    const asPeer = await RawConn.connect(node2Port);
    conns.push(asPeer);
    expect((await asPeer.handshake(SECRET, cluster, 2, 1, 'client'))?.[0]).toBe(FRAME.authOk);
    asPeer.send(death);
    expect(await asPeer.waitClosed()).toBe(true);

    // A herald with the wrong secret: refused at authentication.
    const forged = await RawConn.connect(node2Port);
    conns.push(forged);
    expect(await forged.handshake('not-the-secret', cluster, 2, 1, 'herald')).toBeNull();
    expect((await child.must({ op: 'heraldConnected', peerId: 1 })).connected).toBe(false);

    // Through all that, node 2's connection to node 1 stood.
    expect((await child.must({ op: 'state', peerId: 1 })).state).toBe('connected');
    expect((await readNode1()).ok).toBe(true);
    expect(child.stderr()).not.toContain('herald says');

    // An authenticated herald of node 1 that lies (node 1 lives): node 2 drops its connection to
    // node 1 as gone (acted on before the herald's connection closes), then reconnects to it.
    const liar = await RawConn.connect(node2Port);
    conns.push(liar);
    expect((await liar.handshake(SECRET, cluster, 2, 1, 'herald'))?.[0]).toBe(FRAME.authOk);
    expect((await child.must({ op: 'heraldConnected', peerId: 1 })).connected).toBe(true);
    liar.send(death);
    expect(await liar.waitClosed()).toBe(true);
    await until('node 2 logged the report and dropped its connection', () => child.stderr().includes('its process died (its herald said so)'));
    expect(child.stderr()).toContain("node 1's herald says its process died");
    expect((await child.must({ op: 'waitConnected', peerId: 1 })).state).toBe('connected');
    expect((await readNode1()).ok).toBe(true);
  });
});
