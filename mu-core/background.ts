/**
 * The background plane: heartbeat publication, one-sided scans of the peers' control regions (the
 * failure detector's input), and the permission mailboxes. It decides nothing about leadership: the
 * node (node.ts) reads the view (`lowestAlive`) and the grants, and answers requests.
 */
import type { Fabric, PeerId } from '../binding/fabric';
import type { MuConfig } from './config';
import { forceDead, newLiveness, observe, PeerLiveness } from './detector';
import {
  ControlWords, CTL_BYTES, CTL_REGION, encodeMailbox, mailboxRegion, readControl, readHeartbeat, readMailbox, writeControl,
  writeHeartbeat,
} from './layout';
import type { MuLogger } from './logger';
import type { OpTable } from './ops';
import type { Scheduler, TimerHandle } from './scheduler';

export interface BackgroundHost {
  /** A peer's control words, from a scan (also used by the leader for ring gating). */
  onPeerControl(peer: PeerId, ctl: ControlWords): void;
  /** A peer asks for write permission on our log (seq is new); return true once granted. */
  onPermissionRequest(peer: PeerId, seq: number): boolean;
  /**
   * Called after every scan round, once mailboxes were checked and reads posted; also right after
   * the view changed and on every election poll (see `alert`), so a node acts without waiting for
   * its next scan. Must tolerate being called at any time.
   */
  onScan(): void;
  /** Our applied index and FUO now (published with every control rewrite). */
  progress(): { appliedIndex: number; firstUndecided: number };
}

interface PeerChannel {
  liveness: PeerLiveness;
  ctlBuf: Buffer;
  ctlReadInFlight: boolean;
  /** The read of probeGone (its own buffer: a scan's read may be in flight). */
  probeBuf: Buffer;
  probeInFlight: boolean;
  /**
   * Our standing request to this peer (0 = none: see `requestPermission`), when we last sent it, and
   * the peer's incarnation when we made it (a restarted peer forgot our box).
   */
  standingSeq: number;
  requestedAtMs: number;
  requestIncarnation: number | null;
  /** The latest of its requests we granted; negated once we revoked that grant. */
  grantSeqSent: number;
  /** Mailbox writes to one peer are serialized so that an older box never lands over a newer one. */
  boxWriteInFlight: boolean;
  boxDirty: boolean;
  /**
   * The last box write failed (link cut, peer gone): sent again at the next scan. A grant's ack
   * lost this way was never sent again otherwise (the peer's re-request carries the same number,
   * which this node had handled), and the candidate waited for it forever.
   */
  boxUnsent: boolean;
  /** Latest request seen from this peer that we have not yet granted. */
  pendingRequest: number;
  /** Its control words from the last clean read (null: none yet). */
  lastWords: ControlWords | null;
  handledRequest: number;
  /** The incarnation of this peer that published the leaving mark (null: none did). The mark is
   *  permanent for an incarnation, so even a torn read of it keeps the peer dead. */
  leavingIncarnation: number | null;
}

export class Background {
  heartbeat = 0;
  scans = 0;
  private readonly channels = new Map<PeerId, PeerChannel>();
  private timers: TimerHandle[] = [];
  private stopped = false;
  private words: ControlWords;
  private seqCounter = 0;
  /** Until when the election poll runs (see `alert`); -Infinity: not running. */
  private alertUntilMs = -Infinity;
  private alertTimer: TimerHandle | null = null;

  constructor(
    private readonly fabric: Fabric,
    private readonly ops: OpTable,
    private readonly scheduler: Scheduler,
    private readonly logger: MuLogger,
    private readonly cfg: MuConfig,
    private readonly selfId: PeerId,
    readonly peers: PeerId[],
    private readonly ctl: Buffer,
    private readonly mailboxes: Map<PeerId, Buffer>,
    private readonly host: BackgroundHost,
    incarnation: number,
  ) {
    // Request numbers of one incarnation never collide with a previous one's (restart).
    this.seqCounter = incarnation * 1e6;
    // Amnesic until the node knows whether it joined a group with history (node.ts).
    this.words = { incarnation, heartbeat: 0, appliedIndex: 0, firstUndecided: 1, permissionHolder: 0, amnesic: true, leaving: false };
    for (const p of peers) {
      this.channels.set(p, {
        liveness: newLiveness(), ctlBuf: Buffer.alloc(CTL_BYTES), ctlReadInFlight: false, probeBuf: Buffer.alloc(CTL_BYTES), probeInFlight: false,
        standingSeq: 0, requestedAtMs: -Infinity, requestIncarnation: null, grantSeqSent: 0, boxWriteInFlight: false, boxDirty: false, boxUnsent: false, pendingRequest: 0, handledRequest: 0,
        lastWords: null, leavingIncarnation: null,
      });
    }
    writeControl(this.ctl, this.words);
  }

  start(): void {
    const beat = () => {
      if (this.stopped) return;
      this.heartbeat++;
      const p = this.host.progress();
      if (p.appliedIndex !== this.words.appliedIndex || p.firstUndecided !== this.words.firstUndecided) this.publish(p);
      else writeHeartbeat(this.ctl, this.heartbeat);
      this.timers[0] = this.scheduler.setTimer(this.cfg.heartbeatIntervalMs, beat);
    };
    const scan = () => {
      if (this.stopped) return;
      this.scanOnce();
      this.timers[1] = this.scheduler.setTimer(this.cfg.scanIntervalMs, scan);
    };
    this.timers = [this.scheduler.setTimer(this.cfg.heartbeatIntervalMs, beat), this.scheduler.setTimer(this.cfg.scanIntervalMs, scan)];
    // A request or a grant acts when it lands, not at the next scan: during a fail-over each side of
    // the exchange would otherwise wait up to a scan interval. Where the fabric cannot tell (verbs),
    // the scans still find them.
    for (const p of this.peers) this.fabric.watchRemoteWrites(mailboxRegion(p));
    this.fabric.onRemoteWrite(() => this.mailboxLanded());
    // Likewise a peer's death: on shm the kernel tells a watcher as the process starts to exit,
    // milliseconds before a read of its regions fails (and up to a scan before we would read).
    for (const p of this.peers) this.fabric.watchPeerGone(p, CTL_REGION);
    this.fabric.onPeerGone(() => this.probeGone());
  }

  /**
   * Some watched peer is gone: read every peer now and count only a 'gone' answer (the whole fuse).
   * Anything else waits for the scans, which judge heartbeats at their own pace: a read out of turn
   * would see no progress from a live peer.
   */
  private probeGone(): void {
    if (this.stopped) return;
    for (const [peer, ch] of this.channels) {
      if (ch.probeInFlight) continue;
      ch.probeInFlight = true;
      this.ops.read(peer, CTL_REGION, 0, CTL_BYTES, ch.probeBuf, (c) => {
        ch.probeInFlight = false;
        if (this.stopped || c.ok || c.error !== 'gone') return;
        this.observePeer(peer, ch, null, ch.liveness.lastIncarnation, this.cfg.scoreMax);
      });
    }
  }

  private mailboxLanded(): void {
    if (this.stopped) return;
    this.checkMailboxes();
    this.host.onScan();
  }

  stop(): void {
    this.stopped = true;
    this.fabric.onRemoteWrite(null);
    this.fabric.onPeerGone(null);
    for (const t of this.timers) t?.cancel();
    this.alertTimer?.cancel();
  }

  /**
   * Leadership is changing (a peer was lost, or this node stands): for the next
   * electionWindowScans scans, look at the mailboxes every electionPollMs instead of every scan, so
   * a permission request is granted, and a grant seen, microseconds after it lands rather than a
   * scan later. Each side of the exchange would otherwise add a scan interval. Bounded in time; a
   * no-op when electionPollMs is 0.
   */
  alert(): void {
    if (this.stopped || this.cfg.electionPollMs <= 0) return;
    this.alertUntilMs = this.scheduler.nowMs() + this.cfg.electionWindowScans * this.cfg.scanIntervalMs;
    if (this.alertTimer !== null) return;
    const tick = () => {
      this.alertTimer = null;
      if (this.stopped || this.scheduler.nowMs() > this.alertUntilMs) return;
      this.checkMailboxes();
      this.host.onScan();
      if (this.alertTimer === null) this.alertTimer = this.scheduler.setTimer(this.cfg.electionPollMs, tick);
    };
    this.alertTimer = this.scheduler.setTimer(this.cfg.electionPollMs, tick);
  }

  /** Rewrite our control region (heartbeat always current). */
  publish(change: Partial<ControlWords>): void {
    // In place: nobody else holds `words`, and a copy per publish (each pump run that applied
    // something) cost six times the assignment.
    Object.assign(this.words, change);
    this.words.heartbeat = this.heartbeat;
    writeControl(this.ctl, this.words);
  }

  isAlive(peer: PeerId): boolean {
    return peer === this.selfId || (this.channels.get(peer)?.liveness.alive ?? false);
  }

  /**
   * Leader by the rule "lowest id alive", in this node's view, among members that may lead (not
   * amnesic). `selfEligible`: whether this node itself may. 0 if nobody may. `without`: as if that
   * peer were dead (an armed grant's view of its leader's death).
   */
  lowestAlive(selfEligible: boolean, without: PeerId = 0): PeerId {
    let low = selfEligible ? this.selfId : Infinity;
    for (const [p, ch] of this.channels) {
      if (p !== without && ch.liveness.alive && ch.lastWords !== null && !ch.lastWords.amnesic && !ch.lastWords.leaving && p < low) low = p;
    }
    return low === Infinity ? 0 : low;
  }

  /**
   * Dead in this node's view without having announced that it leaves: crashed, paused or cut off.
   * (A leaving peer is dead at once too, but it still drains and answers what it took.)
   */
  isSilent(peer: PeerId): boolean {
    const ch = this.channels.get(peer);
    return ch !== undefined && !ch.liveness.alive && ch.leavingIncarnation !== ch.liveness.lastIncarnation;
  }

  /** Alive in this node's view and not announced as leaving. */
  isPresent(peer: PeerId): boolean {
    const ch = this.channel(peer);
    return ch.liveness.alive && !(ch.lastWords?.leaving ?? false);
  }

  /**
   * A peer that leads, by its control words: alive, not leaving, and publishing itself as the holder
   * of its own log. `preferred` (the leader we follow) if it does, else the lowest such id; 0: none.
   * `without`: as if that peer were dead.
   */
  sittingLeader(preferred: PeerId, without: PeerId = 0): PeerId {
    let low = 0;
    for (const [p, ch] of this.channels) {
      const w = ch.lastWords;
      if (p === without || !ch.liveness.alive || w === null || w.leaving || w.permissionHolder !== p) continue;
      if (p === preferred) return p;
      if (low === 0 || p < low) low = p;
    }
    return low;
  }

  /**
   * The incarnation of `peer` whose heartbeat was last seen moving (null: none yet). Ahead of
   * peerWords at the scan that finds a restarted peer alive: that scan acts before it keeps the words.
   */
  peerIncarnation(peer: PeerId): number | null {
    const seen = this.channel(peer).liveness.lastIncarnation;
    return seen === 0 ? null : seen;
  }

  /** The control words `peer` published in the last scan that read them intact (null: none yet). */
  peerWords(peer: PeerId): ControlWords | null {
    return this.channel(peer).lastWords;
  }

  /** Whether `peer` last said it counts in a prepare majority (neither amnesic nor leaving). */
  isVoter(peer: PeerId): boolean {
    const w = this.channel(peer).lastWords;
    return w !== null && !w.amnesic && !w.leaving;
  }

  /**
   * Whether some peer shows that the group already decided entries. (An election alone is no
   * history: nothing can be lost yet, and counting it would make late starters of a new group
   * non-voters.) A leader publishes its applied index with every heartbeat, well within the
   * start-up scans of a restarting node.
   */
  peersShowHistory(): boolean {
    for (const ch of this.channels.values()) {
      const w = ch.lastWords;
      if (w !== null && (w.appliedIndex > 0 || w.firstUndecided > 1)) return true;
    }
    return false;
  }

  /**
   * Ask `peer` for write permission on its log. A request stands until the peer grants it and then
   * revokes the grant (or restarts): the peer grants a pending request whenever we become the lowest
   * id alive in its view, even before we notice the old leader died ourselves, so a fail-over does
   * not wait for a request/grant round trip. Asking again while one stands resends the same number
   * (the box may have been lost): a number is granted at most once, so a revoked grant never comes
   * back to a term that kept writing under it. Asking after a revocation makes a new number: the
   * caller first ends whatever it built on the old grant.
   * Only send one while none of our log writes is in flight (the caller checks): the peer may grant
   * it at any later time, and a write of an older term must not land after that grant.
   */
  requestPermission(peer: PeerId): void {
    const ch = this.channel(peer);
    if (ch.standingSeq === 0 || this.grantState(peer) === 'revoked') {
      ch.standingSeq = ++this.seqCounter;
      ch.requestIncarnation = ch.lastWords?.incarnation ?? null;
    }
    ch.requestedAtMs = this.scheduler.nowMs();
    this.sendBox(peer);
  }

  /**
   * What `peer` answered our standing request: none stands; pending; granted (its permission is ours
   * until it revokes it: a later write of ours fails if it did); or revoked (it gave its log to
   * someone else since).
   */
  grantState(peer: PeerId): 'none' | 'pending' | 'granted' | 'revoked' {
    const ch = this.channel(peer);
    if (ch.standingSeq === 0) return 'none';
    const g = readMailbox(this.mailboxes.get(peer)!)?.grantSeq ?? 0;
    return g === ch.standingSeq ? 'granted' : g === -ch.standingSeq ? 'revoked' : 'pending';
  }

  isGrantedBy(peer: PeerId): boolean {
    return this.grantState(peer) === 'granted';
  }

  /** Milliseconds since our latest request to `peer` (Infinity: none stands). */
  requestAgeMs(peer: PeerId): number {
    const ch = this.channel(peer);
    return ch.standingSeq === 0 ? Infinity : this.scheduler.nowMs() - ch.requestedAtMs;
  }

  /**
   * A term or a prepare ended: the grants it used may be stale by now, and a peer of an older build
   * revokes without saying so. Granted requests are spent (the next ask is a new number); pending
   * ones still stand.
   */
  dropGrantedRequests(): void {
    for (const [p, ch] of this.channels) if (this.grantState(p) === 'granted') ch.standingSeq = 0;
  }

  /** We gave our log to someone else (or nobody): tell `peer`, whose grant that was. */
  revokeGrant(peer: PeerId): void {
    const ch = this.channel(peer);
    if (ch.grantSeqSent <= 0) return;
    ch.grantSeqSent = -ch.grantSeqSent;
    this.sendBox(peer);
  }

  /** The request of `peer` that waits for our grant (0: none). */
  pendingRequestFrom(peer: PeerId): number {
    const ch = this.channel(peer);
    return ch.pendingRequest !== ch.handledRequest ? ch.pendingRequest : 0;
  }

  /** Whether we answered `peer`'s request `seq` already (granted it; a number is granted once). */
  answered(peer: PeerId, seq: number): boolean {
    return this.channel(peer).handledRequest === seq;
  }

  /** Our own standing request at `peer` (0: none), which every box we send it carries. */
  standingRequestAt(peer: PeerId): number {
    return this.channel(peer).standingSeq;
  }

  /** Tell `peer` we granted its request `seq`. */
  ackGrant(peer: PeerId, seq: number): void {
    const ch = this.channel(peer);
    ch.handledRequest = seq;
    ch.grantSeqSent = seq;
    this.sendBox(peer);
  }

  private channel(peer: PeerId): PeerChannel {
    const ch = this.channels.get(peer);
    if (ch === undefined) throw new Error(`mu-core: unknown peer ${peer}`);
    return ch;
  }

  /** Permission requests that landed in our mailboxes: offer the new ones to the node. */
  private checkMailboxes(): void {
    for (const [peer, ch] of this.channels) {
      const box = readMailbox(this.mailboxes.get(peer)!);
      // A different number is a new request (a restarted peer counts from 1 again; box writes are
      // serialized, so an older request never lands over a newer one).
      if (box !== null && box.requestSeq !== 0 && box.requestSeq !== ch.handledRequest) ch.pendingRequest = box.requestSeq;
      if (ch.pendingRequest !== ch.handledRequest) {
        if (this.host.onPermissionRequest(peer, ch.pendingRequest)) ch.handledRequest = ch.pendingRequest;
      }
    }
  }

  private scanOnce(): void {
    this.scans++;
    this.checkMailboxes();
    for (const [peer, ch] of this.channels) {
      if (ch.boxUnsent && !ch.boxWriteInFlight) this.sendBox(peer);
      if (ch.ctlReadInFlight) {
        this.observePeer(peer, ch, null, ch.liveness.lastIncarnation); // a read slower than a scan: no progress
        continue;
      }
      ch.ctlReadInFlight = true;
      this.ops.read(peer, CTL_REGION, 0, CTL_BYTES, ch.ctlBuf, (c) => {
        ch.ctlReadInFlight = false;
        if (this.stopped) return;
        if (!c.ok) {
          // 'gone' is the peer's side answering that nothing serves it (its process died or closed
          // its fabric): certain, so the whole fuse. 'unreachable' is a link that may only be
          // slow or cut, weighted per fabric; anything else counts as one silent scan.
          const weight = c.error === 'gone' ? this.cfg.scoreMax : c.error === 'unreachable' ? this.cfg.unreachableMissScans : 1;
          this.observePeer(peer, ch, null, ch.liveness.lastIncarnation, weight);
          return;
        }
        const words = readControl(ch.ctlBuf);
        if (words?.leaving && ch.leavingIncarnation !== words.incarnation) {
          ch.leavingIncarnation = words.incarnation;
          this.logger.info(`peer ${peer} is leaving`);
        }
        this.observePeer(peer, ch, readHeartbeat(ch.ctlBuf), words?.incarnation ?? ch.liveness.lastIncarnation);
        if (words !== null) {
          // A restarted peer has a zeroed box from us: our request no longer stands there.
          if (ch.standingSeq !== 0 && ch.requestIncarnation !== null && words.incarnation !== ch.requestIncarnation) ch.standingSeq = 0;
          else if (ch.standingSeq !== 0 && ch.requestIncarnation === null) ch.requestIncarnation = words.incarnation;
          ch.lastWords = words;
          this.host.onPeerControl(peer, words);
        }
      });
    }
    this.host.onScan();
  }

  private observePeer(peer: PeerId, ch: PeerChannel, heartbeat: number | null, incarnation: number, missWeight = 1): void {
    // A peer that announced it is leaving is dead at once (no hysteresis): that is what makes a
    // planned hand-off fast. Only a new incarnation (a restart) brings it back, by the usual climb.
    const change = incarnation === ch.leavingIncarnation ? forceDead(ch.liveness, incarnation) : observe(ch.liveness, heartbeat, incarnation, this.cfg, missWeight);
    if (change === null) return;
    this.logger.info(change === 'became-alive' ? `peer ${peer} is alive` : `peer ${peer} lost`);
    // The view changed: act on it now (stand, or grant a request that waited for this view) and
    // watch the mailboxes closely while the election runs, instead of a scan later for each step.
    if (change === 'became-dead') this.alert();
    this.checkMailboxes();
    this.host.onScan();
  }

  private sendBox(peer: PeerId): void {
    const ch = this.channel(peer);
    if (ch.boxWriteInFlight) {
      ch.boxDirty = true;
      return;
    }
    ch.boxWriteInFlight = true;
    ch.boxDirty = false;
    const bytes = encodeMailbox({ requestSeq: ch.standingSeq, grantSeq: ch.grantSeqSent });
    this.ops.write(peer, mailboxRegion(this.selfId), 0, bytes, (c) => {
      ch.boxWriteInFlight = false;
      ch.boxUnsent = !c.ok;
      if (ch.boxDirty && !this.stopped) this.sendBox(peer);
    });
  }
}
