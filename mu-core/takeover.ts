/**
 * Prepare of a candidate that holds write permission from a majority (itself included): read the
 * logs and control words of the granting peers, keep the first majority that answers, adopt the
 * highest-numbered value at every undecided index (recovery.ts), then write a proposal number above
 * everything seen into the minProposal of that majority. Every wait is for a majority, never for all.
 */
import type { PeerId } from '../binding/fabric';
import type { MuConfig } from './config';
import {
  CTL_BYTES, CTL_REGION, encodeMinProposal, H_MIN_PROPOSAL, LOG_REGION, logRegionBytes, proposalFor, readControl,
  readMinProposal, roundOf,
} from './layout';
import { invariant } from './errors';
import type { OpTable } from './ops';
import { AdoptedEntry, LogImage, recover } from './recovery';

export type TakeoverOutcome =
  | { kind: 'leader'; proposal: number; base: number; adopted: AdoptedEntry[]; quorum: PeerId[] }
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
}

export class Takeover {
  private cancelled = false;
  private settled = false;

  constructor(private readonly input: TakeoverInput, private readonly done: (o: TakeoverOutcome) => void) {}

  cancel(): void {
    this.cancelled = true;
  }

  start(): void {
    const { cfg, ops, granted, majority } = this.input;
    const needed = majority - 1;
    if (needed <= 0) {
      this.prepare([]);
      return;
    }
    const images: LogImage[] = [];
    let failures = 0;
    const regionBytes = logRegionBytes(cfg.slotCount, cfg.slotBytes);
    for (const peer of granted) {
      const log = Buffer.alloc(regionBytes);
      const ctl = Buffer.alloc(CTL_BYTES);
      let pending = 2;
      let ok = true;
      const one = (success: boolean) => {
        ok = ok && success;
        if (--pending > 0 || this.cancelled || this.settled) return;
        const words = ok ? readControl(ctl) : null;
        if (words !== null && (log.readUInt32LE(4) !== cfg.slotCount || log.readUInt32LE(8) !== cfg.slotBytes)) {
          // A member with another ring geometry: nothing it holds can be interpreted. Crash loudly.
          invariant(false, `node ${peer}'s log has ${log.readUInt32LE(4)} slots of ${log.readUInt32LE(8)} bytes, ours ${cfg.slotCount} of ${cfg.slotBytes}: every member needs the same slotCount and slotBytes`);
        }
        // A restarted node that no leader synced yet may have forgotten accepted values: not a voter.
        // Nor is a leaving one: it is about to exit, and counting it would only make the prepare
        // depend on a node that goes away mid-way.
        if (words === null || words.amnesic || words.leaving) {
          if (++failures > granted.length - needed) this.finish({ kind: 'failed', reason: 'too few peers answered the prepare reads' });
          return;
        }
        if (images.length < needed) {
          images.push({ peerId: peer, log, appliedIndex: words.appliedIndex });
          if (images.length === needed) this.prepare(images);
        }
      };
      // Control words first: the applied index it reports is then a lower bound when the log is read.
      ops.read(peer, CTL_REGION, 0, CTL_BYTES, ctl, (c) => one(c.ok));
      ops.read(peer, LOG_REGION, 0, regionBytes, log, (c) => one(c.ok));
    }
  }

  private prepare(images: LogImage[]): void {
    const { selfId, cfg, ops, ownLog, ownApplied, majority } = this.input;
    this.input.note?.(`prepare: read ${images.length} peer logs`);
    const all: LogImage[] = [{ peerId: selfId, log: ownLog, appliedIndex: ownApplied }, ...images];
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
            this.finish({ kind: 'leader', proposal, base: ownApplied, adopted: result.entries, quorum: images.map((i) => i.peerId) });
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
