/**
 * daemon/socket-input.ts against real loopback sockets: accepted sockets read through the shared
 * buffer on this Node, every chunk is handed out as a transient view of it (so the next read does
 * overwrite what a consumer kept without copying), copies of them add up to exactly what was sent
 * (several connections interleaving, reads up to the buffer's size), and pause/resume and the end of
 * input still work. Then the daemon itself, which feeds the rest of large values from those views:
 * values of every size, cut at random places and pipelined with other commands, read back intact.
 */
import * as net from 'net';
import { onSocketInput } from '../../daemon/socket-input';
import { exchange } from '../helpers/cluster';
import { startMucached } from '../helpers/procs';
import { Rng, seedFromEnv } from '../helpers/rng';

const CONNECTIONS = 6;
const BYTES_PER_CONNECTION = 600 * 1024;

test('chunks stay intact across connections sharing the read buffer; pause, resume and end behave', async () => {
  const seed = seedFromEnv('SOCKET_INPUT_SEED');
  const r = new Rng(seed);
  const rng = (): number => r.next32() / 2 ** 32;
  const payloads = Array.from({ length: CONNECTIONS }, () => {
    const b = Buffer.alloc(BYTES_PER_CONNECTION);
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rng() * 256);
    return b;
  });
  const received: Buffer[][] = payloads.map(() => []);
  const transients: boolean[] = [];
  const shared = new Set<ArrayBufferLike>();
  const modes: string[] = [];
  const ended: number[] = [];
  let pauses = 0;
  let chunks = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.once('data', () => undefined); // never fires in read-buffer mode; harmless in stream mode
    let index = -1;
    modes.push(onSocketInput(socket, (chunk, transient) => {
      // The first byte names the connection.
      if (index < 0) index = chunk[0];
      transients.push(transient);
      if (transient) shared.add(chunk.buffer);
      received[index].push(Buffer.from(chunk));
      // Every 10th chunk (not a coin flip: the 3.6 MB arrive in at least 55 reads, so this always pauses).
      if (++chunks % 10 === 0) {
        pauses++;
        socket.pause();
        setTimeout(() => socket.resume(), 1);
      }
    }));
    socket.on('end', () => { ended.push(index); socket.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await Promise.all(payloads.map((p, i) => new Promise<void>((resolve, reject) => {
      p[0] = i;
      const c = net.connect(port, '127.0.0.1', () => {
        let at = 0;
        const sendSome = (): void => {
          for (let n = 0; n < 8 && at < p.length; n++) {
            const size = 1 + Math.floor(rng() * 70_000);
            c.write(p.subarray(at, at + size));
            at += size;
          }
          if (at < p.length) setImmediate(sendSome);
          else c.end();
        };
        sendSome();
      });
      c.on('error', reject);
      c.on('close', () => resolve());
      c.resume();
    })));
    expect({ seed, modes: [...new Set(modes)] }).toEqual({ seed, modes: ['read-buffer'] });
    // Every read is a view of the one shared buffer.
    expect([...new Set(transients)]).toEqual([true]);
    expect(shared.size).toBe(1);
    for (let i = 0; i < CONNECTIONS; i++) {
      expect({ seed, connection: i, intact: Buffer.concat(received[i]).equals(payloads[i]) }).toEqual({ seed, connection: i, intact: true });
    }
    expect(ended.sort()).toEqual(payloads.map((_, i) => i));
    expect(pauses).toBeGreaterThan(0);
  } finally {
    server.close();
  }
});

test('the daemon stores values of every size intact when their reads are fed from the shared buffer', async () => {
  const seed = seedFromEnv('SOCKET_INPUT_SEED');
  const r = new Rng(seed + 1);
  const rng = (): number => r.next32() / 2 ** 32;
  const server = await startMucached(['-m', '256']);
  try {
    // Sizes around the read buffer (64 KiB) and the 16 KiB TCP segments, and small ones between.
    const sizes = [1, 100, 16_383, 65_534, 65_536, 65_537, 131_072, 200_001, 500_000];
    const values = new Map<string, Buffer>();
    let stream = '';
    for (let i = 0; i < 60; i++) {
      const size = i < sizes.length ? sizes[i] : Math.floor(rng() * 300_000);
      const value = Buffer.alloc(size);
      for (let k = 0; k < size; k++) value[k] = r.next32() & 0xff;
      values.set(`big${i}`, value);
      stream += `set big${i} ${i} 0 ${size} noreply\r\n${value.toString('latin1')}\r\nset small${i} 0 0 2 noreply\r\nok\r\n`;
    }
    stream += 'mn\r\n';
    const bytes = Buffer.from(stream, 'latin1');
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(server.port, '127.0.0.1', () => {
        let at = 0;
        const sendSome = (): void => {
          // Random cuts, some of them tiny, so value ends and command starts fall anywhere in a read.
          for (let n = 0; n < 4 && at < bytes.length; n++) {
            const size = rng() < 0.2 ? 1 + Math.floor(rng() * 10) : 1 + Math.floor(rng() * 90_000);
            c.write(bytes.subarray(at, at + size));
            at += size;
          }
          if (at < bytes.length) setTimeout(sendSome, rng() < 0.3 ? 1 : 0);
        };
        sendSome();
      });
      let out = '';
      c.on('data', (d) => {
        out += d.toString('latin1');
        if (out.endsWith('MN\r\n')) {
          c.destroy();
          resolve(out);
        }
      });
      c.on('error', reject);
    });
    expect({ seed, reply }).toEqual({ seed, reply: 'MN\r\n' });
    for (const [key, value] of values) {
      const flags = key.slice(3);
      const got = await exchange(server.port, `get ${key} small${flags}\r\n`, (t) => t.endsWith('END\r\n'), 10_000);
      const expected = `VALUE ${key} ${flags} ${value.length}\r\n${value.toString('latin1')}\r\nVALUE small${flags} 0 2\r\nok\r\nEND\r\n`;
      expect({ seed, key, intact: got === expected }).toEqual({ seed, key, intact: true });
    }
  } finally {
    await server.stop();
  }
}, 120_000);
