/**
 * The memory fabric as mu-core sees it (../shared/DESIGN.md, "The fabric"). Every backend
 * (verbs, shm, tcp, and the simulated one in mu-core's tests) implements exactly this.
 *
 * Invariants every backend guarantees:
 * - A local region has at most one peer with write permission at a time (`grantWrite`); the owner's
 *   fabric refuses a write from any other peer, and once `grantWrite` returns, no write from the
 *   previous holder can still land.
 * - A write either lands whole or not at all as seen by the owner after its completion; a
 *   completion with ok=false means the bytes did not land (or are unknown only if `error` says so).
 * - Completions are reported once each, through `pollCompletions`.
 */

export type PeerId = number;

export type PeerState = 'connecting' | 'connected' | 'unreachable';

export type FabricErrorKind =
  | 'permission' // the owner refused: the writer does not hold write permission
  | 'unreachable' // peer down or connection lost; the operation did not complete
  | 'bounds' // offset/length outside the peer's region
  | 'no-region' // the peer has no region of that name
  // The peer's side answered that nothing serves it any more: its process died or closed its
  // fabric (shm: the region owner's thread is dead; tcp: connection refused, reset or closed by
  // the peer). Certain, where 'unreachable' may be a slow or cut link. The operation did not complete.
  | 'gone';

export interface Completion {
  /** The id returned by postWrite/postRead. */
  wrId: number;
  peerId: PeerId;
  ok: boolean;
  error?: FabricErrorKind;
  /** Human-readable detail for logs when ok=false. */
  detail?: string;
}

export interface PeerAddress {
  peerId: PeerId;
  /** Backend-specific address: host/port for tcp, a directory for shm, device/GID for verbs. */
  host?: string;
  port?: number;
}

export interface Fabric {
  readonly kind: 'shm' | 'tcp' | 'verbs' | 'sim';
  readonly selfId: PeerId;
  /** Register a local region; the Buffer is the region's memory itself (zero-copy). Idempotent per name. */
  registerRegion(name: string, bytes: number): Buffer;
  connectPeer(peer: PeerAddress): void;
  disconnectPeer(peerId: PeerId): void;
  peerState(peerId: PeerId): PeerState;
  /**
   * One-sided write of `data` into peer's region at offset; returns a work-request id. The fabric
   * takes the bytes when the call is made: the caller may change `data` right after (mu-core passes
   * its own log). With `dataStart` and `dataLength`, only those bytes of `data` are written (a range
   * outside `data` throws), which spares the caller a view object per write.
   */
  postWrite(peerId: PeerId, region: string, offset: number, data: Buffer, dataStart?: number, dataLength?: number): number;
  /** One-sided read of `length` bytes of peer's region at offset into `into` (at intoOffset). */
  postRead(peerId: PeerId, region: string, offset: number, length: number, into: Buffer, intoOffset?: number): number;
  /** Non-blocking: completions ready now (at most `max`). */
  pollCompletions(max?: number): Completion[];
  /** Resolves when a completion is ready or after timeoutMs, without spinning the JS thread. */
  waitCompletions(timeoutMs: number): Promise<void>;
  /**
   * The same as a callback: `fn` runs once (as a microtask if completions are ready now). The
   * replication path waits once per entry: a callback spares it two promises each time.
   */
  whenCompletions(timeoutMs: number, fn: () => void): void;
  /** Give write permission on a local region to exactly one peer (null = nobody). Synchronous revocation. */
  grantWrite(region: string, peerId: PeerId | null): void;
  /** Who holds write permission on a local region now. */
  writeHolder(region: string): PeerId | null;
  /**
   * From now on, soon after a peer's write lands in this local region, call the `onRemoteWrite`
   * handler (what RDMA write-with-immediate gives a receiver: the owner learns of a write without
   * polling for it). One call may stand for several writes. Returns false if this backend cannot
   * (verbs, for now): the owner then finds such writes by polling.
   */
  watchRemoteWrites(region: string): boolean;
  /** The handler for watched regions (null: none); runs on the JS thread. */
  onRemoteWrite(handler: (() => void) | null): void;
  /**
   * From now on, soon after the process serving `peerId` stops (exits, or is killed), call the
   * `onPeerGone` handler, ahead of the next read that fails as 'gone' (shm: the kernel releases the
   * peer's liveness lock as its process starts to exit, milliseconds before its memory is torn
   * down; tcp: the peer's death herald says its process died, as that starts to exit, or else the
   * peer's side closes or resets a working connection, as its kernel does for a dead process once
   * its memory is torn down, not a link that is cut). `region` is one the peer registers. Returns
   * false if this backend cannot tell (verbs, for now): reads then find out. A signal may also come
   * from a live peer that closed its fabric; the reads that follow tell.
   */
  watchPeerGone(peerId: PeerId, region: string): boolean;
  /** The handler for watched peers (null: none); runs on the JS thread. One call may stand for several peers: read to find out which. */
  onPeerGone(handler: (() => void) | null): void;
  /**
   * Arm a grant that the fabric makes by itself the moment it learns `arm.whenGone` died (shm: its
   * liveness lock, as watchPeerGone; tcp: its death herald's word, not a closed connection), without
   * waiting for this process's JS thread: if `arm.whenGone` still
   * holds write permission on the local region `arm.region`, the permission passes to
   * `arm.grantee`, and `arm.box` is written into the grantee's region `arm.boxRegion` at
   * `arm.boxOffset` (as postWrite would, unless the grantee stopped granting this node that
   * region). What RDMA gives a NIC that changes a queue pair's access flags on an event. At most one
   * arm stands: a new one replaces it; null, a grant made, and every grantWrite call disarm it.
   * Returns false if this backend cannot (verbs), or the grantee cannot be reached now (nothing is
   * armed): the node then grants from its JS thread.
   */
  armGrant(arm: GrantArm | null): boolean;
  /** The grants armGrant made since the last call (each reported once). */
  takeArmedGrants(): ArmedGrant[];
  /** tcp only: whether `peerId`'s death herald is connected to us (binding/src/herald.h). */
  heraldConnected?(peerId: PeerId): boolean;
  close(): void;
}

/** A grant to make when a peer is seen gone (Fabric.armGrant). */
export interface GrantArm {
  whenGone: PeerId;
  region: string;
  grantee: PeerId;
  boxRegion: string;
  boxOffset: number;
  box: Buffer;
  /** Returned with the grant, so the caller knows which of its arms was made (an integer). */
  tag: number;
}

/** A grant the fabric made from an arm. */
export interface ArmedGrant {
  whenGone: PeerId;
  grantee: PeerId;
  region: string;
  tag: number;
}

/** How a node opens its fabric; `binding/index.ts` exports `openFabric(options): Fabric`. */
export interface FabricOptions {
  kind: 'shm' | 'tcp' | 'verbs';
  selfId: PeerId;
  /** Namespace so that several clusters (tests!) on one host never share regions or names. */
  cluster: string;
  /** tcp: shared cluster secret for challenge-response authentication (never sent on the wire). */
  secret?: string;
  /** tcp: where this node's NIC thread listens. */
  listenHost?: string;
  listenPort?: number;
  /**
   * tcp: start this node's death herald (binding/src/herald.h), a helper process that tells the
   * peers the moment this process dies instead of when the kernel has torn it down (default true).
   */
  herald?: boolean;
  /** shm: directory of the shared-memory files (default /dev/shm). */
  shmDir?: string;
  /** verbs: device name (e.g. mlx5_0) or the GID/IP to use (RoCE v2 through rdma_cm). */
  device?: string;
  gid?: string;
}
