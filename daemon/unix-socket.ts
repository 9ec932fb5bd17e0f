/**
 * `-s PATH -a MASK`: serve clients on a UNIX socket instead of TCP, as memcached does (no TCP port
 * is opened then). The socket file is created with the permissions MASK allows (octal, default
 * 700), by setting the umask around the bind rather than chmod afterwards, which would leave a
 * moment where anyone could connect. A socket file left behind by a daemon that died is replaced;
 * one that a running server answers on is not (memcached replaces it whatever it is).
 */
import * as fs from 'fs';
import * as net from 'net';

/** How long a probe of an existing socket file waits for a server to answer. */
const PROBE_TIMEOUT_MS = 500;

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    const done = (alive: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS); // a server too busy to accept still owns it
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/** Removes a stale socket file at `path`; throws if `path` is something else, or a live socket. */
export async function clearStaleSocket(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  if (await answers(path)) throw new Error(`another server is listening on ${path}`);
  fs.unlinkSync(path);
}

/** Listens on `path` with the socket file's permissions limited by `maskOctal`. */
export function listenOnUnixSocket(server: net.Server, path: string, maskOctal: string, backlog: number): Promise<void> {
  const mask = parseInt(maskOctal, 8) & 0o777;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A pipe is bound synchronously inside listen(), so the umask is back before anything else runs.
    const previous = process.umask(~mask & 0o777);
    try {
      server.listen({ path, backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}
