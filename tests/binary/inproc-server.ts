/**
 * The binary handler behind the daemon's real Connection class, on a loopback port, in this
 * process: socket-level tests without building dist/. Everything a client sees comes from the same
 * code as the daemon except the CLI and listener wiring.
 */
import * as net from 'net';
import { Connection, ConnectionStats } from '../../daemon/connection';
import { createBinaryHandler } from '../../daemon/handlers/binary';
import { Logger } from '../../daemon/log';
import { makeContext } from '../helpers/handler-context';

export interface InprocServer {
  port: number;
  /** What the server logged (internal errors would show here). */
  logLines: string[];
  stop(): Promise<void>;
}

export async function startInprocBinaryServer(): Promise<InprocServer> {
  const { ctx } = makeContext();
  const stats: ConnectionStats = { bytesRead: 0, bytesWritten: 0 };
  const conns = new Set<Connection>();
  const logLines: string[] = [];
  const log = new Logger(0, (line) => { if (logLines.length < 1000) logLines.push(line); });
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new Connection(socket, {
      // Tests only speak binary; a non-0x80 first byte is answered by the binary parser (a close).
      ascii: createBinaryHandler, binary: createBinaryHandler, ctx, log, stats,
      maxPendingWriteBytes: 4 * 1024 * 1024, onClose: (c) => conns.delete(c),
    });
    conns.add(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    logLines,
    stop: () => new Promise<void>((resolve) => {
      for (const c of conns) c.destroy();
      server.close(() => resolve());
    }),
  };
}
