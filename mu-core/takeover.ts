/**
 * Prepare of a candidate that holds write permission from a majority (itself included): read the
 * control words and the undecided part of the logs of the granting peers (log-reader.ts), keep the
 * first majority that answers, adopt the highest-numbered value at every undecided index
 * (recovery.ts), then write a proposal number above everything seen into the minProposal of that
 * majority. Every wait is for a majority, never for all.
 */
import type { PeerId } from '../binding/fabric';
import type { MuConfig } from './config';
import { encodeMinProposal, H_MIN_PROPOSAL, LOG_REGION, proposalFor, readMinProposal, roundOf } from './layout';
import { readPeerLog } from './log-reader';
import type { OpTable } from './ops';
import { AdoptedEntry, LogImage, recover, ringImage } from './recovery';

export type TakeoverOutcome =
  /** `quorum`: the peers whose logs were read and whose minProposal now holds `proposal`, with the applied index each reported. */
  | { kind: 'leader'; proposal: number; base: number; adopted: AdoptedEntry[]; quorum: Array<{ peer: PeerId; appliedIndex: number }> }
  | { kind: 'needs-snapshot'; fromPeer: PeerId }
  | { kind: 'failed'; reason: string };

export interface TakeoverInput {
  selfId: PeerId;
  cfg: MuConfig;
  ops: OpTable;
  ownLog: Buffer;
  ownApplied: number;
  majority: number;
  granted: PeerId[];
  /** Highest proposal number this node ever used or saw. */
  highestKnownProposal: number;
  /** One line per phase (reads done, prepare written), for the fail-over breakdown. */
  note?: (message: string) => void;
  /** Forced by an operator (MuNode.forceElection): logs of nodes restarted empty count in the majority. */
  forced?: boolean;
}

export class Takeover {
  private cancelled = false;
  private settled = false;

  constructor(private readonly input: TakeoverInput, private readonly done: (o: TakeoverOutcome) => void) {}

  cancel(): void {
    this.cancelled = true;
  }

  start(): void {
    const { cfg, ops, granted, majority, ownApplied } = this.input;
    const needed = majority - 1;
    if (needed <= 0) {
      this.prepare([]);
      return;
    }
    const images: LogImage[] = [];
    let failures = 0;
    for (const peer of granted) {
      readPeerLog({
        peer, ops, slotCount: cfg.slotCount, slotBytes: cfg.slotBytes, firstReadBytes: cfg.prepareFirstReadBytes, base: ownApplied,
        wanted: () => !this.cancelled && !this.settled, acceptAmnesic: this.input.forced === true,
      }, (o) => {
        if (o.kind === 'refused') {
          if (++failures > granted.length - needed) this.finish({ kind: 'failed', reason: `too few peers answered the prepare reads (${peer}: ${o.why})` });
          return;
        }
        if (images.length < needed) {
          images.push(o.image);
          if (images.length === needed) this.prepare(images);
        }
      });
    }
  }

  private prepare(images: LogImage[]): void {
    const { selfId, cfg, ops, ownLog, ownApplied, majority } = this.input;
    this.input.note?.(`prepare: read ${images.length} peer logs`);
    const all: LogImage[] = [ringImage(selfId, ownLog, ownApplied, cfg.slotCount, cfg.slotBytes), ...images];
    const result = recover(ownApplied, all, cfg.slotCount, cfg.slotBytes);
    if (result.kind === 'needs-snapshot') {
      this.finish({ kind: 'needs-snapshot', fromPeer: result.fromPeer });
      return;
    }
    const highest = Math.max(result.highestProposalSeen, this.input.highestKnownProposal, readMinProposal(ownLog));
    const proposal = proposalFor(roundOf(highest) + 1, selfId);
    this.input.note?.(`prepare: adopting ${result.entries.length} entries, writing proposal ${proposal}`);
    ownLog.writeDoubleLE(proposal, H_MIN_PROPOSAL);
    const needed = majority - 1;
    if (needed <= 0) {
      this.finish({ kind: 'leader', proposal, base: ownApplied, adopted: result.entries, quorum: [] });
      return;
    }
    let acks = 0;
    let failures = 0;
    const bytes = encodeMinProposal(proposal);
    for (const img of images) {
      ops.write(img.peerId, LOG_REGION, H_MIN_PROPOSAL, bytes, (c) => {
        if (this.cancelled || this.settled) return;
        if (c.ok) {
          if (++acks === needed) {
            this.finish({ kind: 'leader', proposal, base: ownApplied, adopted: result.entries, quorum: images.map((i) => ({ peer: i.peerId, appliedIndex: i.appliedIndex })) });
          }
        } else if (c.error === 'permission' || ++failures > images.length - needed) {
          this.finish({ kind: 'failed', reason: `prepare write to ${img.peerId} failed (${c.error ?? 'error'})` });
        }
      });
    }
  }

  private finish(o: TakeoverOutcome): void {
    if (this.settled || this.cancelled) return;
    this.settled = true;
    this.done(o);
  }
}
