/**
 * One raw text-protocol connection for the chaos clients: one request in flight at a time, each
 * bounded by a timeout. A timeout or a close while a request is in flight leaves its outcome
 * unknown; the connection is then useless (a late reply would be misattributed) and is destroyed.
 */
import * as net from 'net';

export class RequestFailed extends Error {
  constructor(message: string, readonly sent: boolean) { super(message); }
}

const ERROR_LINE = /^(ERROR|CLIENT_ERROR [^\r]*|SERVER_ERROR [^\r]*)\r\n$/;

export class TextConnection {
  private buffer = '';
  private waiter: { done: (reply: string) => boolean; resolve: (r: string) => void; reject: (e: Error) => void } | null = null;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      const w = this.waiter;
      if (w !== null && w.done(this.buffer)) { const r = this.buffer; this.buffer = ''; this.waiter = null; w.resolve(r); }
    });
    const fail = (why: string): void => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = null;
      w?.reject(new RequestFailed(why, true));
    };
    socket.on('close', () => fail('connection closed'));
    socket.on('error', (e) => fail(e.message));
  }

  static open(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<TextConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      const timer = setTimeout(() => { socket.destroy(); reject(new RequestFailed(`connect to ${host}:${port} timed out`, false)); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); socket.removeAllListeners('error'); resolve(new TextConnection(socket)); });
      socket.once('error', (e) => { clearTimeout(timer); reject(new RequestFailed(e.message, false)); });
    });
  }

  get usable(): boolean { return !this.closed; }

  /** Sends `text`; resolves with the reply once `multiLine` replies end with END (or any error line). */
  request(text: string, multiLine: boolean, timeoutMs: number): Promise<string> {
    if (this.closed) return Promise.reject(new RequestFailed('connection closed', false));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        this.close();
        reject(new RequestFailed(`no reply within ${timeoutMs} ms`, true));
      }, timeoutMs);
      const done = (r: string): boolean => r.endsWith('\r\n') && (!multiLine || r.endsWith('END\r\n') || ERROR_LINE.test(r));
      this.waiter = {
        done,
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.socket.write(text, 'latin1');
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** One request over a fresh connection (stats, final reads); the connection is closed after. */
export async function exchangeOnce(host: string, port: number, text: string, multiLine: boolean, timeoutMs: number): Promise<string> {
  const conn = await TextConnection.open(port, timeoutMs, host);
  try { return await conn.request(text, multiLine, timeoutMs); } finally { conn.close(); }
}

/** A get/gets reply: the value and CAS unique, null for a miss; throws on anything else. */
export function parseValueReply(reply: string): { value: string; cas: string | null } | null {
  if (reply === 'END\r\n') return null;
  const m = /^VALUE \S+ \d+ (\d+)(?: (\d+))?\r\n/.exec(reply);
  if (m === null) throw new Error(`unexpected reply ${JSON.stringify(reply.slice(0, 80))}`);
  const start = m[0].length;
  const value = reply.slice(start, start + Number(m[1]));
  if (reply.slice(start + Number(m[1])) !== '\r\nEND\r\n') throw new Error(`unexpected reply ${JSON.stringify(reply.slice(0, 80))}`);
  return { value, cas: m[2] ?? null };
}
