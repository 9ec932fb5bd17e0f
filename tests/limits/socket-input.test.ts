/**
 * daemon/socket-input.ts against real loopback sockets: accepted sockets read through the shared
 * buffer on this Node, every chunk handed out stays intact after later reads reuse that buffer
 * (several connections interleaving, reads up to the buffer's size), and pause/resume and the
 * end of input still work.
 */
import * as net from 'net';
import { onSocketInput } from '../../daemon/socket-input';
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
  const modes: string[] = [];
  const ended: number[] = [];
  let pauses = 0;
  let chunks = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.once('data', () => undefined); // never fires in read-buffer mode; harmless in stream mode
    let index = -1;
    modes.push(onSocketInput(socket, (chunk) => {
      // The first byte names the connection; chunks are kept (not copied) to catch reuse.
      if (index < 0) index = chunk[0];
      received[index].push(chunk);
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
    for (let i = 0; i < CONNECTIONS; i++) {
      expect({ seed, connection: i, intact: Buffer.concat(received[i]).equals(payloads[i]) }).toEqual({ seed, connection: i, intact: true });
    }
    expect(ended.sort()).toEqual(payloads.map((_, i) => i));
    expect(pauses).toBeGreaterThan(0);
  } finally {
    server.close();
  }
});
