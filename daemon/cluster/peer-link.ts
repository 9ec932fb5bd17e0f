/**
 * Request/response links between daemons over peer-wire frames: a listener per node, and one lazy,
 * reconnecting dialer per peer. Used for forwarded writes and snapshots.
 *
 * Invariants: a request gets exactly one answer or one error; a request on a link that drops fails
 * with `retryable: true` (the caller decides whether it may be re-sent: forwarded writes are only
 * re-sent when they provably never reached the leader, see ForwardClient). Both ends authenticate
 * each other (peer-wire.ts): a listener serves no request and a dialer sends none before the other
 * side has proved it knows the cluster secret on this very connection.
 */
import * as net from 'net';
import {
  BINARY_FRAMES_FIELD, checkProof, encodeFrame, FrameReader, handshakeProof, HandshakeFacts, isNonce, MAX_FRAME_BYTES, newNonce,
  PEER_HANDSHAKE_VERSION, PRE_AUTH_MAX_FRAME_BYTES, RECORDS_FIELD, saysBinaryFrames, saysRecords,
} from './peer-wire';
import { RefusalLog } from './refusal-log';
import { busyPollAfterInput } from '../busy-poll';

/**
 * Frames written together leave in one write (a syscall per frame cost more than its encoding).
 * - Requests (a follower forwarding its clients' writes) wait for setImmediate, after the poll
 *   phase: each client socket's data is its own callback, and a process.nextTick uncork ran after
 *   each one, a write per forwarded command.
 * - Answers wait for process.nextTick only. The answers of one log entry settle in the same
 *   microtask checkpoint (its commit resolves them all), and a tick queued from a microtask runs once
 *   that checkpoint has drained. The leader commits an entry in the check phase (sealGroup's
 *   setImmediate), where a setImmediate uncork waited a whole further turn of the loop.
 */
type FlushAt = 'turn-end' | 'tick-end';

function writeCorked(socket: net.Socket, frame: Buffer, flushAt: FlushAt): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    if (flushAt === 'turn-end') setImmediate(() => socket.uncork());
    else process.nextTick(() => socket.uncork());
  }
  socket.write(frame);
}

export type RequestHandler = (fromNodeId: number, request: Record<string, unknown>) => Promise<Record<string, unknown>>;

export class PeerLinkError extends Error {
  /**
   * `outcomeUnknown`: the request may have taken effect (it reached the peer, or may have, and no
   * answer came back); by default, any delivered request that is not retryable.
   */
  constructor(message: string, readonly retryable: boolean, readonly delivered: boolean, readonly outcomeUnknown = delivered && !retryable) {
    super(message);
  }
}

export interface LinkLog {
  info(message: string): void;
}

/**
 * A socket that has not authenticated by then is closed. A legitimate dialer answers the challenge
 * within one round trip (and gives up itself after its 1 s connect timeout); without a bound a
 * silent socket would hold a descriptor and a frame buffer forever.
 */
export const HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * Sockets that have not authenticated, held at once, at most. A real peer authenticates within one
 * round trip, so a flood of connections that never do is cut here, oldest first: without it each
 * held a descriptor for the whole handshake timeout, as many as an attacker could open.
 */
export const MAX_UNAUTHENTICATED_PEER_SOCKETS = 64;

export interface ListenerOptions {
  /** This node's id: announced in the challenge and bound into both proofs. 0: not announced. */
  selfId?: number;
  /** The cluster name, bound into both proofs (both ends must agree). */
  cluster?: string;
  handshakeTimeoutMs?: number;
}

export interface DialerOptions {
  /** The node this dialer means to reach; a listener announcing another (non-zero) id is refused. */
  peerId?: number;
  cluster?: string;
  /** Where authentication failures are reported (they also reject the requests that were waiting). */
  log?: LinkLog;
}

/** A value from an untrusted frame, short enough for a log line. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Accepts authenticated peers and answers their requests with `handler`. */
export class PeerListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Not yet authenticated, oldest first (a Map iterates in insertion order), each with its refusal. */
  private readonly unauthenticated = new Map<net.Socket, (why: string) => void>();
  private readonly refusals: RefusalLog;
  private readonly selfId: number;
  private readonly cluster: string;
  private readonly handshakeTimeoutMs: number;
  /** Requests handed to the handler and not yet answered (a stopping node answers them first). */
  private answering = 0;

  constructor(
    private readonly secret: string, private readonly validIds: Set<number>, private readonly handler: RequestHandler,
    private readonly log: LinkLog, options: ListenerOptions = {},
  ) {
    this.selfId = options.selfId ?? 0;
    this.cluster = options.cluster ?? '';
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.refusals = new RefusalLog(log);
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  private accept(socket: net.Socket): void {
    if (this.unauthenticated.size >= MAX_UNAUTHENTICATED_PEER_SOCKETS) {
      const [oldest, refuseOldest] = this.unauthenticated.entries().next().value as [net.Socket, (why: string) => void];
      this.unauthenticated.delete(oldest); // now, not on its 'close': the bound holds within this turn
      refuseOldest(`${MAX_UNAUTHENTICATED_PEER_SOCKETS} connections have not authenticated; the oldest is dropped`);
    }
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    const refuse = (why: string): void => {
      this.refusals.refused(`peer link: refused a connection from ${from}: ${why}`);
      socket.destroy();
    };
    this.sockets.add(socket);
    this.unauthenticated.set(socket, refuse);
    const timer = setTimeout(() => refuse(`not authenticated within ${this.handshakeTimeoutMs} ms`), this.handshakeTimeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
      this.unauthenticated.delete(socket);
    });
    const challenge = newNonce();
    const reader = new FrameReader(PRE_AUTH_MAX_FRAME_BYTES);
    let peerId = 0;
    let binaryOk = false;
    socket.write(encodeFrame({ t: 'challenge', v: PEER_HANDSHAKE_VERSION, c: challenge, nodeId: this.selfId, [BINARY_FRAMES_FIELD]: 1, [RECORDS_FIELD]: 1 }));
    onFrames(socket, reader, (why) => refuse(why), (msg) => {
      if (peerId !== 0) {
        this.serve(socket, peerId, msg, binaryOk);
        return;
      }
      const hello = this.checkHello(msg, challenge);
      if (typeof hello === 'string') {
        refuse(hello);
        return;
      }
      peerId = hello.clientId;
      binaryOk = saysBinaryFrames(msg);
      this.unauthenticated.delete(socket);
      clearTimeout(timer);
      reader.allowFramesUpTo(MAX_FRAME_BYTES);
      socket.write(encodeFrame({ t: 'welcome', proof: handshakeProof(this.secret, 'server', hello) }));
    });
  }

  /** The handshake facts of a valid hello, or why it is refused. */
  private checkHello(msg: Record<string, unknown>, challenge: string): HandshakeFacts | string {
    if (msg.t !== 'hello') return `expected a hello, got ${shown(msg.t)}`;
    if (msg.v === undefined && msg.nonce === undefined) {
      return `node ${shown(msg.nodeId)} speaks the older peer-link handshake (no nonce, no mutual authentication); upgrade it to this version`;
    }
    if (msg.v !== PEER_HANDSHAKE_VERSION) return `unsupported peer-link handshake version ${shown(msg.v)}`;
    if (!isNonce(msg.nonce)) return 'malformed nonce in hello';
    const clientId = msg.nodeId;
    if (typeof clientId !== 'number' || !this.validIds.has(clientId)) return `unknown node id ${shown(clientId)}`;
    if (clientId === this.selfId) return `a peer claims to be this node (${clientId})`;
    const facts: HandshakeFacts = { cluster: this.cluster, serverId: this.selfId, clientId, challenge, nonce: msg.nonce };
    if (!checkProof(this.secret, 'client', facts, msg.answer)) return `bad proof from node ${clientId} (wrong cluster secret or cluster name)`;
    return facts;
  }

  /** Requests received and not yet answered. */
  get unanswered(): number {
    return this.answering;
  }

  private serve(socket: net.Socket, peerId: number, msg: Record<string, unknown>, binaryOk: boolean): void {
    const id = msg.id;
    this.answering++;
    this.handler(peerId, msg).finally(() => { this.answering--; }).then(
      (answer) => {
        if (socket.destroyed) return;
        // The handler's answer is ours to complete: an object spread here cost 2.5 us per reply
        // (and made the copy slow to encode), more than encoding the frame itself.
        answer.t = 'reply';
        answer.id = id;
        answer.ok = true;
        writeCorked(socket, encodeFrame(answer, binaryOk), 'tick-end');
      },
      (err: Error & { retryable?: boolean; outcomeUnknown?: boolean }) => {
        if (!socket.destroyed) {
          writeCorked(socket, encodeFrame({ t: 'reply', id, ok: false, message: err.message, retryable: err.retryable === true, outcomeUnknown: err.outcomeUnknown === true }), 'tick-end');
        }
      },
    );
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    this.refusals.flush();
  }
}

interface Pending {
  resolve: (answer: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** The dialing side of one peer: connects on first use, reconnects after a drop. */
export class PeerDialer {
  /** The authenticated socket, once the listener's welcome proof checked out. */
  private socket: net.Socket | null = null;
  /** The socket being connected or authenticated, so close() can abort it too. */
  private connecting: net.Socket | null = null;
  private ready: Promise<net.Socket> | null = null;
  /** The authenticated listener reads binary frames (its challenge said so). */
  private binaryOk = false;
  /** The authenticated listener records forwarded writes' outcomes (RECORDS_FIELD). */
  private recordsOk = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly selfId: number, private readonly secret: string, private readonly host: string, private readonly port: number,
    private readonly connectTimeoutMs = 1000, private readonly options: DialerOptions = {},
  ) {}

  /**
   * Sends `message` and resolves with the peer's answer. With `timeoutMs`, a request still
   * unanswered then fails (not retryable: it may have reached the peer) and a late answer is dropped.
   * The message is the link's from then on (it gets its request id: a copy by object spread cost
   * more than encoding the frame).
   */
  request(message: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.connect().then((socket) => new Promise((resolve, reject) => {
      const id = this.nextId++;
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (!this.pending.delete(id)) return;
          reject(new PeerLinkError(`no answer from node at ${this.host}:${this.port} within ${timeoutMs} ms; outcome unknown`, false, true));
        }, timeoutMs);
      }
      const done = (): void => { if (timer !== undefined) clearTimeout(timer); };
      this.pending.set(id, { resolve: (a) => { done(); resolve(a); }, reject: (e) => { done(); reject(e); } });
      message.id = id;
      // A listener that does not record outcomes gets no tag (the caller sees it gone from `message`).
      if (message.tag !== undefined && !this.recordsOk) delete message.tag;
      writeCorked(socket, encodeFrame(message, this.binaryOk), 'turn-end');
    }), (err: Error) => {
      throw new PeerLinkError(`cannot reach peer ${this.host}:${this.port}: ${err.message}`, true, false);
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const socket = net.connect(this.port, this.host);
      this.connecting = socket;
      socket.setNoDelay(true);
      const reader = new FrameReader(PRE_AUTH_MAX_FRAME_BYTES);
      let stage: 'challenge' | 'welcome' | 'ready' = 'challenge';
      let facts: HandshakeFacts | null = null;
      let listenerBinary = false;
      let listenerRecords = false;
      /** Why the handshake or link was given up on by us (logged), as opposed to a plain I/O error. */
      let failure: string | null = null;
      let ioError: string | null = null;
      const fail = (why: string): void => {
        failure ??= why;
        socket.destroy();
      };
      const timer = setTimeout(() => fail(`no authenticated welcome within ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
      onFrames(socket, reader, (why) => fail(`bad frame from the peer: ${why}`), (msg) => {
        if (stage === 'ready') {
          if (msg.t !== 'reply') return fail(`unexpected ${shown(msg.t)} frame on an authenticated link`);
          this.settle(msg);
        } else if (stage === 'challenge') {
          const answered = this.answerChallenge(msg);
          if (typeof answered === 'string') return fail(answered);
          facts = answered;
          stage = 'welcome';
          listenerBinary = saysBinaryFrames(msg);
          listenerRecords = saysRecords(msg);
          socket.write(encodeFrame({
            t: 'hello', v: PEER_HANDSHAKE_VERSION, nodeId: this.selfId, nonce: facts.nonce, answer: handshakeProof(this.secret, 'client', facts),
            [BINARY_FRAMES_FIELD]: 1,
          }));
        } else {
          const refused = this.checkWelcome(msg, facts!);
          if (refused !== null) return fail(refused);
          stage = 'ready';
          clearTimeout(timer);
          reader.allowFramesUpTo(MAX_FRAME_BYTES);
          this.connecting = null;
          this.socket = socket;
          this.binaryOk = listenerBinary;
          this.recordsOk = listenerRecords;
          resolve(socket);
        }
      });
      socket.on('error', (err) => { ioError ??= err.message; });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.connecting === socket) this.connecting = null;
        if (this.socket === socket) this.socket = null;
        this.ready = null;
        if (stage !== 'ready') {
          if (failure !== null) this.options.log?.info(`peer link: gave up on ${this.host}:${this.port}: ${failure}`);
          reject(new Error(failure ?? ioError ?? 'connection closed before authentication (wrong cluster secret, or the peer does not know this node id?)'));
        }
        const lost = [...this.pending.values()];
        this.pending.clear();
        // The request may have reached the peer: not provably undelivered.
        for (const p of lost) p.reject(new PeerLinkError(`link to ${this.host}:${this.port} dropped${failure ? `: ${failure}` : ''}`, false, true));
      });
    });
    return this.ready;
  }

  /** The facts for our hello, or why the challenge is refused. */
  private answerChallenge(msg: Record<string, unknown>): HandshakeFacts | string {
    if (msg.t !== 'challenge') return `expected a challenge, got ${shown(msg.t)}`;
    if (msg.v === undefined) return 'the peer speaks the older peer-link handshake (it cannot prove it knows the cluster secret); upgrade it to this version';
    if (msg.v !== PEER_HANDSHAKE_VERSION) return `unsupported peer-link handshake version ${shown(msg.v)}`;
    if (!isNonce(msg.c)) return 'malformed challenge';
    const serverId = msg.nodeId;
    if (typeof serverId !== 'number' || !Number.isInteger(serverId) || serverId < 0) return `malformed node id ${shown(serverId)} in challenge`;
    const expected = this.options.peerId ?? 0;
    // 0 means the listener was not told its id; the proofs still bind whatever it announced.
    if (expected !== 0 && serverId !== 0 && serverId !== expected) return `expected node ${expected}, but the peer is node ${serverId}`;
    return { cluster: this.options.cluster ?? '', serverId, clientId: this.selfId, challenge: msg.c, nonce: newNonce() };
  }

  /** Null when the welcome proves the listener knows the secret on this connection, else why not. */
  private checkWelcome(msg: Record<string, unknown>, facts: HandshakeFacts): string | null {
    if (msg.t !== 'welcome') return `expected a welcome, got ${shown(msg.t)}`;
    if (msg.proof === undefined) return 'the peer sent a welcome without a proof (an older version, or it does not know the cluster secret); refusing it';
    if (!checkProof(this.secret, 'server', facts, msg.proof)) return 'the peer failed to prove it knows the cluster secret (bad welcome proof); refusing it';
    return null;
  }

  private settle(msg: Record<string, unknown>): void {
    const p = this.pending.get(Number(msg.id));
    if (!p) return;
    this.pending.delete(Number(msg.id));
    if (msg.ok) p.resolve(msg);
    else p.reject(new PeerLinkError(String(msg.message), msg.retryable === true, true, msg.outcomeUnknown === true));
  }

  /** An authenticated link is open now. */
  get linked(): boolean {
    return this.socket !== null;
  }

  /**
   * Opens (and authenticates) the link ahead of the first request, so that request does not pay the
   * handshake: a write forwarded to a node that has just become leader. Failures are the caller's to
   * pace; they are not thrown (a handshake the peer refused is logged as for a request). Resolves
   * once this try is over, either way.
   */
  warm(): Promise<void> {
    if (this.closed || this.socket !== null) return Promise.resolve();
    return this.connect().then(() => undefined, () => undefined);
  }

  close(): void {
    this.closed = true;
    this.connecting?.destroy();
    this.socket?.destroy();
  }
}

/**
 * Feeds `socket`'s bytes to `reader` and hands each whole frame to `onFrame`, in order, until the
 * socket is destroyed (handlers destroy it to refuse). A frame the reader rejects goes to
 * `onBadFrame` and ends the pass. Bounded: each pass consumes one frame of the bytes buffered so far.
 */
function onFrames(socket: net.Socket, reader: FrameReader, onBadFrame: (why: string) => void, onFrame: (msg: Record<string, unknown>) => void): void {
  socket.on('data', (chunk: Buffer) => {
    busyPollAfterInput();
    reader.append(chunk);
    for (;;) {
      if (socket.destroyed) return;
      let msg: Record<string, unknown> | undefined;
      try {
        msg = reader.next();
      } catch (err) {
        onBadFrame((err as Error).message);
        return;
      }
      if (msg === undefined) return;
      onFrame(msg);
    }
  });
}
