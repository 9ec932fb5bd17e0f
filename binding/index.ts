/**
 * openFabric: the native memory fabric (binding/src, built by `npm run build:native`) behind the
 * Fabric interface of ./fabric.ts. One object per node; see ../shared/DESIGN.md, "The fabric".
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ArmedGrant, Completion, Fabric, FabricOptions, GrantArm, PeerAddress, PeerId, PeerState } from './fabric';

export type { ArmedGrant, Completion, Fabric, FabricOptions, GrantArm, PeerAddress, PeerId, PeerState } from './fabric';

/** The addon's raw surface (binding/src/addon.cc). */
interface NativeFabricObject {
  registerRegion(name: string, bytes: number): Buffer;
  connectPeer(peerId: number, host: string | undefined, port: number | undefined): void;
  disconnectPeer(peerId: number): void;
  peerState(peerId: number): PeerState;
  /** The number postWriteTo takes for a region name (stable for the object's life). */
  regionId(name: string): number;
  /** Own property, not a method (no unwrap per call): the hot path of every replicated entry. */
  postWriteTo(peerId: number, regionId: number, offset: number, data: Buffer, dataStart?: number, dataLength?: number): number;
  postRead(peerId: number, region: string, offset: number, length: number, into: Buffer, intoOffset?: number): number;
  /** Fills pollBuffer[3i..3i+2] = wrId, peerId, error code (0 ok); returns the count. */
  pollReady(max: number): number;
  readonly pollBuffer: Float64Array;
  /** Detail text of completion i of the last pollReady. */
  detail(index: number): string | undefined;
  /** true: completions are queued now; false: the next completion calls onWake once. */
  armWait(): boolean;
  grantWrite(region: string, peerId: number | null): void;
  writeHolder(region: string): number | null;
  listenPort(): number;
  heraldPid(): number;
  heraldConnected(peerId: number): boolean;
  holdPeerLockForTest(peerId: number, region: string, ms: number): void;
  /** false: this backend cannot tell (verbs for now). */
  watchRemoteWrites(region: string): boolean;
  watchPeerGone(peerId: number, region: string): boolean;
  /** false: this backend cannot (tcp, verbs), or the grantee's region is not reachable now. */
  armGrant(whenGone: number, region: string, grantee: number, boxRegion: string, boxOffset: number, box: Buffer, tag: number): boolean;
  disarmGrant(): void;
  takeArmedGrants(): ArmedGrant[];
  close(): void;
}

interface NativeAddon {
  NativeFabric: new (kind: string, options: FabricOptions & { heraldPath: string }, onWake: () => void, onRemoteWrite: () => void, onPeerGone: () => void) => NativeFabricObject;
  hmacSha256(key: Buffer, message: Buffer): Buffer;
  hasVerbs: boolean;
}

const addonFile = 'mucached_fabric.node';
/** The tcp fabric's death herald, built beside the addon (binding/CMakeLists.txt). */
const heraldFile = 'mucached-herald';

/** Where the built addon may be: next to this file's sources (ts-jest) or from dist/binding/. */
export function addonPath(): string {
  const override = process.env.MUCACHED_FABRIC_ADDON;
  if (override) return override;
  const candidates = [
    path.join(__dirname, 'build', 'Release', addonFile),
    path.join(__dirname, '..', '..', 'binding', 'build', 'Release', addonFile),
    path.join(__dirname, 'build', 'Debug', addonFile),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`native fabric addon not built (looked for ${candidates.join(', ')}): run npm run build:native`);
  return found;
}

let addon: NativeAddon | undefined;
export function loadAddon(): NativeAddon {
  if (!addon) addon = require(addonPath()) as NativeAddon; // eslint-disable-line @typescript-eslint/no-var-requires
  return addon;
}

/** A Fabric from the native addon, plus what only a native fabric knows. */
export interface NativeFabric extends Fabric {
  /** tcp: the port the NIC thread listens on (useful with listenPort 0); 0 for other kinds. */
  readonly listenPort: number;
  /** tcp: the pid of this node's death herald while it runs; 0 without one. */
  heraldPid(): number;
  /** tcp: whether `peerId`'s death herald is connected to this node (its death is then known at once). */
  heraldConnected(peerId: PeerId): boolean;
  /** Tests only, shm: hold the lock of a peer's region for `ms` ms (blocks this thread). */
  holdPeerLockForTest(peerId: PeerId, region: string, ms: number): void;
}

/** ErrorKind codes of binding/src/fabric_types.h, by value. */
const ERROR_KINDS: Array<Completion['error']> = [undefined, 'permission', 'unreachable', 'bounds', 'no-region', 'gone'];
const MAX_POLL = 1024;

/**
 * Wake-ups run as reactions to this settled promise: about 50 ns each here, where queueMicrotask
 * takes about 150 ns (Node makes an AsyncResource per call), and the leader waits once per entry.
 */
const settled = Promise.resolve();

interface Waiter {
  wake: () => void;
  timer: NodeJS.Timeout;
}

class AddonFabric implements NativeFabric {
  readonly kind: 'shm' | 'tcp' | 'verbs';
  readonly selfId: PeerId;
  readonly listenPort: number;
  private readonly native: NativeFabricObject;
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  private readonly polled: Float64Array;
  /** Region name -> the addon's id for it: the hot path passes a number, not a string. */
  private readonly regionIds = new Map<string, number>();
  /** The region of the last write and its id: mu-core writes one region over and over. */
  private lastRegion: string | null = null;
  private lastRegionId = 0;
  private remoteWriteHandler: (() => void) | null = null;
  private peerGoneHandler: (() => void) | null = null;

  constructor(options: FabricOptions) {
    this.kind = options.kind;
    this.selfId = options.selfId;
    // A missing binary is reported by the addon, which then runs without a herald.
    const heraldPath = options.kind === 'tcp' && options.herald !== false ? path.join(path.dirname(addonPath()), heraldFile) : '';
    this.native = new (loadAddon().NativeFabric)(options.kind, { ...options, heraldPath }, () => this.wakeAll(), () => {
      if (!this.closed) this.remoteWriteHandler?.();
    }, () => {
      if (!this.closed) this.peerGoneHandler?.();
    });
    this.listenPort = this.native.listenPort();
    this.polled = this.native.pollBuffer;
  }

  registerRegion(name: string, bytes: number): Buffer {
    return this.native.registerRegion(name, bytes);
  }
  heraldPid(): number {
    return this.native.heraldPid();
  }
  heraldConnected(peerId: PeerId): boolean {
    return this.native.heraldConnected(peerId);
  }
  connectPeer(peer: PeerAddress): void {
    this.native.connectPeer(peer.peerId, peer.host, peer.port);
  }
  disconnectPeer(peerId: PeerId): void {
    this.native.disconnectPeer(peerId);
  }
  peerState(peerId: PeerId): PeerState {
    return this.native.peerState(peerId);
  }
  postWrite(peerId: PeerId, region: string, offset: number, data: Buffer, dataStart?: number, dataLength?: number): number {
    let id = region === this.lastRegion ? this.lastRegionId : this.regionIds.get(region);
    if (id === undefined) {
      id = this.native.regionId(region);
      this.regionIds.set(region, id);
    }
    this.lastRegion = region;
    this.lastRegionId = id;
    if (dataStart === undefined && dataLength === undefined) return this.native.postWriteTo(peerId, id, offset, data);
    return this.native.postWriteTo(peerId, id, offset, data, dataStart ?? 0, dataLength ?? data.length - (dataStart ?? 0));
  }
  postRead(peerId: PeerId, region: string, offset: number, length: number, into: Buffer, intoOffset = 0): number {
    return this.native.postRead(peerId, region, offset, length, into, intoOffset);
  }
  pollCompletions(max = MAX_POLL): Completion[] {
    const count = this.native.pollReady(Math.max(0, Math.min(max, MAX_POLL)));
    const out: Completion[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const wrId = this.polled[3 * i];
      const peerId = this.polled[3 * i + 1];
      const code = this.polled[3 * i + 2];
      if (code === 0) {
        out[i] = { wrId, peerId, ok: true };
      } else {
        const detail = this.native.detail(i);
        out[i] = { wrId, peerId, ok: false, error: ERROR_KINDS[code] ?? 'unreachable', ...(detail ? { detail } : {}) };
      }
    }
    return out;
  }
  waitCompletions(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => this.whenCompletions(timeoutMs, resolve));
  }
  whenCompletions(timeoutMs: number, fn: () => void): void {
    if (this.closed || this.native.armWait()) {
      void settled.then(fn);
      return;
    }
    const waiter: Waiter = {
      wake: fn,
      timer: setTimeout(() => {
        this.waiters.delete(waiter);
        fn();
      }, Math.max(0, timeoutMs)),
    };
    this.waiters.add(waiter);
  }
  grantWrite(region: string, peerId: PeerId | null): void {
    this.native.grantWrite(region, peerId);
  }
  writeHolder(region: string): PeerId | null {
    return this.native.writeHolder(region);
  }
  watchRemoteWrites(region: string): boolean {
    return this.native.watchRemoteWrites(region);
  }
  onRemoteWrite(handler: (() => void) | null): void {
    this.remoteWriteHandler = handler;
  }
  watchPeerGone(peerId: PeerId, region: string): boolean {
    return this.native.watchPeerGone(peerId, region);
  }
  onPeerGone(handler: (() => void) | null): void {
    this.peerGoneHandler = handler;
  }
  armGrant(arm: GrantArm | null): boolean {
    if (this.closed) return false;
    if (arm === null) {
      this.native.disarmGrant();
      return true;
    }
    return this.native.armGrant(arm.whenGone, arm.region, arm.grantee, arm.boxRegion, arm.boxOffset, arm.box, arm.tag);
  }
  takeArmedGrants(): ArmedGrant[] {
    return this.closed ? [] : this.native.takeArmedGrants();
  }
  holdPeerLockForTest(peerId: PeerId, region: string, ms: number): void {
    this.native.holdPeerLockForTest(peerId, region, ms);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    this.wakeAll();
  }

  private wakeAll(): void {
    if (this.waiters.size === 0) return;
    // Taken out first, and run as microtasks (as the promises they replaced resolved): a waiter
    // that arms again from its callback registers a new waiter, which must wait for the next
    // signal, not be woken by this one for nothing (an empty wake-up makes OpTable back off).
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const waiter of woken) {
      clearTimeout(waiter.timer);
      void settled.then(waiter.wake);
    }
  }
}

/**
 * Open this node's fabric. Throws if the backend cannot start (tcp: no secret or the port is
 * taken; shm: the node id is already running; verbs: no RDMA device or a build without verbs).
 */
export function openFabric(options: FabricOptions): NativeFabric {
  return new AddonFabric(options);
}
