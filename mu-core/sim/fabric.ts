/**
 * SimFabric: the Fabric of one simulated node. One-sided operations land after a seeded delay; the
 * owner's region enforces write permission at landing; completions reach the poster after another
 * delay, so completions of different operations arrive reordered. Writes may land in two pieces;
 * grantWrite finishes such a write before it returns (no write of the previous holder lands after).
 */
import type { ArmedGrant, Completion, Fabric, FabricErrorKind, GrantArm, PeerAddress, PeerId, PeerState } from '../../binding/fabric';
import type { SimHost, SimWorld } from './world';

export class SimFabric implements Fabric {
  readonly kind = 'sim' as const;
  private closed = false;

  /** The incarnation of this node the fabric belongs to (a restart gets a new host and fabric). */
  private readonly host: SimHost;

  constructor(private readonly world: SimWorld, readonly selfId: PeerId) {
    const h = world.host(selfId);
    if (h === undefined) throw new Error(`sim: no host ${selfId}`);
    this.host = h;
  }

  private get self(): SimHost {
    return this.host;
  }

  registerRegion(name: string, bytes: number): Buffer {
    const existing = this.self.regions.get(name);
    if (existing !== undefined) return existing.buf;
    const region = { buf: Buffer.alloc(bytes), holder: null, partials: new Set<() => void>() };
    this.self.regions.set(name, region);
    return region.buf;
  }

  connectPeer(_peer: PeerAddress): void {}

  disconnectPeer(_peerId: PeerId): void {}

  peerState(peerId: PeerId): PeerState {
    return this.world.host(peerId)?.alive && !this.world.isCut(this.selfId, peerId) ? 'connected' : 'unreachable';
  }

  postWrite(peerId: PeerId, region: string, offset: number, data: Buffer, dataStart = 0, dataLength = data.length - dataStart): number {
    if (!(Number.isInteger(dataStart) && Number.isInteger(dataLength) && dataStart >= 0 && dataLength >= 0 && dataStart + dataLength <= data.length)) {
      throw new RangeError('dataStart/dataLength outside data');
    }
    const wrId = this.world.nextWrId++;
    const bytes = Buffer.from(data.subarray(dataStart, dataStart + dataLength)); // the NIC takes the bytes at post time
    const writer = this.selfId;
    this.world.schedule(this.world.netDelayMs(), null, () => {
      const target = this.world.host(peerId);
      const r = target?.alive ? target.regions.get(region) : undefined;
      const error: FabricErrorKind | null =
        this.world.isCut(writer, peerId) ? 'unreachable' : !target?.alive ? this.deadTargetError(target) : r === undefined ? 'no-region' : offset < 0 || offset + bytes.length > r.buf.length ? 'bounds' : r.holder !== writer ? 'permission' : null;
      if (error !== null || r === undefined) {
        this.complete(wrId, peerId, false, error ?? 'no-region');
        return;
      }
      const finish = () => {
        this.world.onLanded?.(writer, peerId, region, offset, bytes);
        if (r.watched && target !== undefined) this.world.notifyRemoteWrite(target);
        this.complete(wrId, peerId, true);
      };
      if (bytes.length > 64 && this.world.rng.chance(this.world.latency.tornChance)) {
        const half = bytes.length >> 1;
        bytes.copy(r.buf, offset, 0, half);
        const rest = () => {
          r.partials.delete(rest);
          bytes.copy(r.buf, offset + half, half);
          finish();
        };
        r.partials.add(rest);
        this.world.schedule(this.world.netDelayMs() / 4, null, () => {
          if (r.partials.has(rest)) rest();
          else if (!target?.alive) this.complete(wrId, peerId, false, this.deadTargetError(target));
        });
        return;
      }
      bytes.copy(r.buf, offset);
      finish();
    });
    return wrId;
  }

  postRead(peerId: PeerId, region: string, offset: number, length: number, into: Buffer, intoOffset = 0): number {
    const wrId = this.world.nextWrId++;
    this.world.schedule(this.world.netDelayMs(), null, () => {
      const target = this.world.host(peerId);
      const r = target?.alive ? target.regions.get(region) : undefined;
      if (this.world.isCut(this.selfId, peerId)) return this.complete(wrId, peerId, false, 'unreachable');
      if (!target?.alive) return this.complete(wrId, peerId, false, this.deadTargetError(target));
      if (r === undefined) return this.complete(wrId, peerId, false, 'no-region');
      if (offset < 0 || offset + length > r.buf.length) return this.complete(wrId, peerId, false, 'bounds');
      const copy = Buffer.from(r.buf.subarray(offset, offset + length));
      this.complete(wrId, peerId, true, undefined, () => copy.copy(into, intoOffset));
    });
    return wrId;
  }

  pollCompletions(max = 64): Completion[] {
    return this.self.cq.splice(0, max);
  }

  waitCompletions(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => this.whenCompletions(timeoutMs, resolve));
  }

  whenCompletions(timeoutMs: number, fn: () => void): void {
    if (this.self.cq.length > 0) queueMicrotask(fn);
    else this.world.waitForCompletions(this.self, timeoutMs, fn);
  }

  grantWrite(region: string, peerId: PeerId | null): void {
    const r = this.self.regions.get(region);
    if (r === undefined) throw new Error(`sim: grantWrite on unknown region ${region}`);
    for (const rest of [...r.partials]) rest();
    this.self.grantArm = null;
    r.holder = peerId;
  }

  writeHolder(region: string): PeerId | null {
    return this.self.regions.get(region)?.holder ?? null;
  }

  watchRemoteWrites(region: string): boolean {
    const r = this.self.regions.get(region);
    if (r === undefined) throw new Error(`sim: watchRemoteWrites on unknown region ${region}`);
    r.watched = true;
    return true;
  }

  onRemoteWrite(handler: (() => void) | null): void {
    this.self.remoteWriteHandler = handler;
  }

  /** Only where a crash answers 'gone' (world.crashedAnswerGone), as shm's dead liveness lock. */
  watchPeerGone(peerId: PeerId): boolean {
    if (!this.world.crashedAnswerGone) return false;
    this.self.watchedPeers.add(peerId);
    return true;
  }

  onPeerGone(handler: (() => void) | null): void {
    this.self.peerGoneHandler = handler;
  }

  /** Where crashes are watched (watchPeerGone): made by the world as the peer crashes. */
  armGrant(arm: GrantArm | null): boolean {
    if (arm === null) {
      this.self.grantArm = null;
      return true;
    }
    if (!this.self.watchedPeers.has(arm.whenGone)) return false;
    this.self.grantArm = { ...arm, box: Buffer.from(arm.box), granteeHost: this.world.host(arm.grantee) };
    return true;
  }

  takeArmedGrants(): ArmedGrant[] {
    return this.self.armedGrants.splice(0);
  }

  /** A crashed host answers 'gone' if the world says so; one never started, 'unreachable'. */
  private deadTargetError(target: SimHost | undefined): FabricErrorKind {
    return target !== undefined && this.world.crashedAnswerGone ? 'gone' : 'unreachable';
  }

  close(): void {
    this.closed = true;
  }

  /** The completion reaches the poster's queue after the return trip; `deliver` fills a read buffer. */
  private complete(wrId: number, peerId: PeerId, ok: boolean, error?: FabricErrorKind, deliver?: () => void): void {
    this.world.schedule(this.world.netDelayMs(), null, () => {
      const h = this.host;
      if (!h.alive || this.closed || this.world.host(this.selfId) !== h) return;
      deliver?.();
      h.cq.push(ok ? { wrId, peerId, ok } : { wrId, peerId, ok, error });
      if (!h.wakeScheduled) {
        h.wakeScheduled = true;
        this.world.schedule(0, this.selfId, () => {
          h.wakeScheduled = false;
          for (const w of h.waiters.splice(0)) w();
        });
      }
    });
  }
}
