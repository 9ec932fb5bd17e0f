/**
 * A fabric node in its own process, driven by a test over stdin/stdout: one JSON command per line
 * in, one JSON reply per line out ({ ok: true, ... } or { ok: false, error }). Uses the compiled
 * wrapper from dist/binding (npm run build) and the addon from binding/build (npm run build:native).
 * Every loop is bounded in count and time; the process exits when stdin closes.
 */
'use strict';
const path = require('path');
const readline = require('readline');
const { openFabric } = require(path.join(__dirname, '..', '..', 'dist', 'binding', 'index.js'));

let fabric;

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Waits for the completion of wrId (bounded by timeoutMs), without spinning the event loop. */
async function completionOf(wrId, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 1_000_000 && Date.now() < deadline; round++) {
    for (const c of fabric.pollCompletions(64)) {
      if (c.wrId === wrId) return c;
    }
    await fabric.waitCompletions(Math.max(1, deadline - Date.now()));
  }
  throw new Error(`no completion for wr ${wrId} within ${timeoutMs} ms`);
}

function u64(value) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}

/**
 * Writes slot i (8 bytes at i*8) = i+1 for i in [0, count), keeping up to `window` writes in
 * flight, until done or `stopAfterFailures` permission failures. Reports which writes succeeded.
 */
async function hammer({ peerId, region, count, window = 1, stopAfterFailures = 50, timeoutMs = 20000, announceAfter = 200 }) {
  const deadline = Date.now() + timeoutMs;
  const okSlots = [];
  const permissionSlots = [];
  const otherErrors = [];
  const slotOf = new Map();
  let next = 0;
  let announced = false;
  while ((next < count || slotOf.size > 0) && Date.now() < deadline) {
    while (next < count && slotOf.size < window && permissionSlots.length < stopAfterFailures) {
      slotOf.set(fabric.postWrite(peerId, region, next * 8, u64(next + 1)), next);
      next++;
    }
    if (slotOf.size === 0) break;
    let got = fabric.pollCompletions(256);
    if (got.length === 0) {
      await fabric.waitCompletions(5);
      got = fabric.pollCompletions(256);
    }
    for (const c of got) {
      const slot = slotOf.get(c.wrId);
      if (slot === undefined) continue;
      slotOf.delete(c.wrId);
      if (c.ok) okSlots.push(slot);
      else if (c.error === 'permission') permissionSlots.push(slot);
      else otherErrors.push({ slot, error: c.error, detail: c.detail });
    }
    if (!announced && okSlots.length >= announceAfter) {
      announced = true;
      reply({ event: 'hammering', okSoFar: okSlots.length });
    }
  }
  return { okSlots, permissionSlots, otherErrors, posted: next, unfinished: slotOf.size };
}

async function handle(cmd) {
  switch (cmd.op) {
    case 'open':
      fabric = openFabric(cmd.options);
      return { listenPort: fabric.listenPort, heraldPid: fabric.heraldPid() };
    case 'ballast': {
      // Touched memory the kernel must tear down when this process is killed (tcp: that teardown
      // comes before it closes the process's sockets).
      const blocks = [];
      for (let i = 0; i < cmd.mb; i++) blocks.push(Buffer.alloc(1 << 20, 1));
      globalThis.ballast = blocks;
      return {};
    }
    case 'register':
      fabric.registerRegion(cmd.name, cmd.bytes);
      return {};
    case 'connect':
      fabric.connectPeer({ peerId: cmd.peerId, host: cmd.host, port: cmd.port });
      return {};
    case 'grant':
      fabric.grantWrite(cmd.region, cmd.peerId);
      return {};
    case 'state':
      return { state: fabric.peerState(cmd.peerId) };
    case 'heraldConnected':
      return { connected: fabric.heraldConnected(cmd.peerId) };
    case 'waitConnected': {
      const deadline = Date.now() + (cmd.timeoutMs ?? 5000);
      for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
        if (fabric.peerState(cmd.peerId) === 'connected') return { state: 'connected' };
        await new Promise((r) => setTimeout(r, 5));
      }
      return { state: fabric.peerState(cmd.peerId) };
    }
    case 'write': {
      // With dataStart/dataLength: only that range of the bytes is written.
      const data = Buffer.from(cmd.hex, 'hex');
      const wrId = cmd.dataStart === undefined
        ? fabric.postWrite(cmd.peerId, cmd.region, cmd.offset, data)
        : fabric.postWrite(cmd.peerId, cmd.region, cmd.offset, data, cmd.dataStart, cmd.dataLength);
      return { completion: await completionOf(wrId, cmd.timeoutMs ?? 5000) };
    }
    case 'read': {
      const into = Buffer.alloc(cmd.length);
      const wrId = fabric.postRead(cmd.peerId, cmd.region, cmd.offset, cmd.length, into);
      const completion = await completionOf(wrId, cmd.timeoutMs ?? 5000);
      return { completion, hex: into.toString('hex') };
    }
    case 'hammer':
      return hammer(cmd);
    case 'holdLock':
      // The native side prints {"event":"holding"} once it has the lock.
      fabric.holdPeerLockForTest(cmd.peerId, cmd.region, cmd.ms);
      return {};
    case 'close':
      fabric.close();
      return {};
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      const result = await handle(cmd);
      reply({ id: cmd.id, ok: true, ...result });
    } catch (e) {
      reply({ id: cmd && cmd.id, ok: false, error: String(e && e.message ? e.message : e) });
    }
  });
});
lines.on('close', () => {
  queue.then(() => {
    if (fabric) fabric.close();
    process.exit(0);
  });
});
