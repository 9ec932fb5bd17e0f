/**
 * Whether a node that ran in this group before, and restarted empty, may vote without being synced.
 *
 * Such a node may have accepted entries it no longer holds, some of them decided with one other
 * member that has not learnt yet that they were decided (simulation seed 15195: its peers' control
 * words then show no history at all, and a node that judged by them alone founded "a new group" with
 * a third member that never held the entry, and wrote another value at a committed index). So it
 * stays amnesic until a leader syncs it, with one exception that keeps a group whose every member
 * restarted empty from waiting forever: each other member has shown, once since this node started,
 * that it holds nothing (its control words show nothing applied or known decided, and its log header
 * carries neither a leader's proposal nor a commit or sync marker). Then no log holds an entry
 * decided before this node restarted: a peer's header only gains proposals within one incarnation
 * (a leader writes minProposal before any slot), and a peer that restarted since lost what it held
 * too. The observations need not be simultaneous for the same reason.
 */
import type { Background } from './background';
import type { PeerId } from '../binding/fabric';
import { H_MIN_PROPOSAL, LOG_HEADER_BYTES, LOG_REGION } from './layout';
import type { OpTable } from './ops';

export class RestartCheck {
  /** Peers that showed an empty log and no history, in some incarnation seen since this node started. */
  private readonly shownEmpty = new Set<PeerId>();
  private readonly readsInFlight = new Set<PeerId>();

  constructor(private readonly peers: readonly PeerId[], private readonly ops: OpTable, private readonly background: Background) {}

  /** Reads the header of every live peer not yet shown empty (one read per peer at a time). Call each scan. */
  probe(): void {
    for (const p of this.peers) {
      if (this.shownEmpty.has(p) || this.readsInFlight.has(p) || !this.background.isAlive(p)) continue;
      const words = this.background.peerWords(p);
      if (words === null || words.appliedIndex > 0 || words.firstUndecided > 1) continue;
      this.readsInFlight.add(p);
      const header = Buffer.alloc(LOG_HEADER_BYTES);
      this.ops.read(p, LOG_REGION, 0, LOG_HEADER_BYTES, header, (c) => {
        this.readsInFlight.delete(p);
        if (!c.ok || !headerEmpty(header)) return;
        // The words may have changed while the read was out: both must show nothing.
        const now = this.background.peerWords(p);
        if (now !== null && now.appliedIndex === 0 && now.firstUndecided <= 1) this.shownEmpty.add(p);
      });
    }
  }

  /** Every other member has shown that it holds nothing: no entry decided before our restart survives. */
  get groupEmpty(): boolean {
    return this.peers.every((p) => this.shownEmpty.has(p));
  }
}

/**
 * No leader ever prepared or synced this log, nor told it a commit point: everything past the format
 * words is still zero (minProposal, both markers, the reserved rest). Bytes, not decoded markers: a
 * marker torn by a write in progress fails its checksum and would read as none.
 */
function headerEmpty(header: Buffer): boolean {
  for (let o = H_MIN_PROPOSAL; o < LOG_HEADER_BYTES; o++) if (header[o] !== 0) return false;
  return true;
}
