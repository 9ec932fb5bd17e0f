/**
 * Request/response links between daemons over peer-wire frames: a listener per node, and one lazy,
 * reconnecting dialer per peer. Used for forwarded writes and snapshots.
 *
 * Invariants: a request gets exactly one answer or one error; a request on a link that drops fails
 * with `retryable: true` (the caller decides whether it may be re-sent: forwarded writes are only
 * re-sent when they provably never reached the leader, see ForwardClient).
 */
import * as net from 'net';
import { answerChallenge, checkAnswer, encodeFrame, FrameReader, newChallenge } from './peer-wire';

export type RequestHandler = (fromNodeId: number, request: Record<string, unknown>) => Promise<Record<string, unknown>>;

export class PeerLinkError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly delivered: boolean) {
    super(message);
  }
}

export interface LinkLog {
  info(message: string): void;
}

/** Accepts authenticated peers and answers their requests with `handler`. */
export class PeerListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly secret: string, private readonly validIds: Set<number>, private readonly handler: RequestHandler, private readonly log: LinkLog) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const challenge = newChallenge();
    let peerId = 0;
    const reader = new FrameReader();
    socket.write(encodeFrame({ t: 'challenge', c: challenge }));
    socket.on('data', (chunk) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log.info(`peer link: dropping a connection from ${socket.remoteAddress}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        const msg = frame as Record<string, unknown>;
        if (peerId === 0) {
          const claimed = Number(msg.nodeId);
          if (msg.t !== 'hello' || !this.validIds.has(claimed) || !checkAnswer(this.secret, challenge, claimed, msg.answer)) {
            this.log.info(`peer link: refused a connection from ${socket.remoteAddress} (bad cluster secret or unknown node id)`);
            socket.destroy();
            return;
          }
          peerId = claimed;
          socket.write(encodeFrame({ t: 'welcome' }));
          continue;
        }
        const id = msg.id;
        this.handler(peerId, msg).then(
          (answer) => { if (!socket.destroyed) socket.write(encodeFrame({ ...answer, t: 'reply', id, ok: true })); },
          (err: Error & { retryable?: boolean }) => {
            if (!socket.destroyed) socket.write(encodeFrame({ t: 'reply', id, ok: false, message: err.message, retryable: err.retryable === true }));
          },
        );
      }
    });
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

interface Pending {
  resolve: (answer: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** The dialing side of one peer: connects on first use, reconnects after a drop. */
export class PeerDialer {
  private socket: net.Socket | null = null;
  private ready: Promise<net.Socket> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly selfId: number, private readonly secret: string, private readonly host: string, private readonly port: number, private readonly connectTimeoutMs = 1000) {}

  request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.connect().then((socket) => new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      socket.write(encodeFrame({ ...message, id }));
    }), (err: Error) => {
      throw new PeerLinkError(`cannot reach peer ${this.host}:${this.port}: ${err.message}`, true, false);
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const socket = net.connect(this.port, this.host);
      socket.setNoDelay(true);
      const reader = new FrameReader();
      let authed = false;
      const timer = setTimeout(() => { socket.destroy(new Error(`no answer within ${this.connectTimeoutMs} ms`)); }, this.connectTimeoutMs);
      socket.on('data', (chunk) => {
        let frames: unknown[];
        try {
          frames = reader.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        for (const frame of frames) {
          const msg = frame as Record<string, unknown>;
          if (msg.t === 'challenge') {
            socket.write(encodeFrame({ t: 'hello', nodeId: this.selfId, answer: answerChallenge(this.secret, String(msg.c), this.selfId) }));
          } else if (msg.t === 'welcome') {
            authed = true;
            clearTimeout(timer);
            this.socket = socket;
            resolve(socket);
          } else if (msg.t === 'reply') {
            const p = this.pending.get(Number(msg.id));
            if (!p) continue;
            this.pending.delete(Number(msg.id));
            if (msg.ok) p.resolve(msg);
            else p.reject(new PeerLinkError(String(msg.message), msg.retryable === true, true));
          }
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        this.socket = null;
        this.ready = null;
        if (!authed) reject(new Error('connection closed before authentication (wrong cluster secret?)'));
        const lost = [...this.pending.values()];
        this.pending.clear();
        // The request may have reached the peer: not provably undelivered.
        for (const p of lost) p.reject(new PeerLinkError(`link to ${this.host}:${this.port} dropped`, false, true));
      });
    });
    return this.ready;
  }

  close(): void {
    this.socket?.destroy();
  }
}
