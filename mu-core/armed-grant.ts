/**
 * A follower's grant for its leader's death, armed ahead in the fabric (Fabric.armGrant).
 *
 * When the leader dies, the follower grants its log to the node its view then elects, for the
 * standing request that node keeps at every peer (Background.requestPermission). Made from the
 * JS thread, that grant waits until this node's event loop runs after the death: on nodes sharing
 * cores, with the dead process's teardown taking one of them, that was 0.3-6 ms after the kill,
 * and the next leader's prepare waited for it (mu-core/README.md, "Fail-over, step by step"). An
 * armed grant is made by the fabric's own thread as it learns of the leader's death (shm: the
 * watcher of its liveness lock, about 0.1-0.25 ms after a SIGKILL; tcp: the NIC thread, on the
 * word of the dead node's herald), so the next leader usually finds it when it stands.
 *
 * Safety does not rest on who holds a grant (a leader commits only what a majority took under its
 * proposal number, and prepare reads only after its grants): the armed grant is the one this node
 * would make itself, only earlier. Invariants:
 * - at most one arm stands, for the leader that holds our log now (the fabric makes it only if that
 *   peer still holds the log; every grantWrite from this thread disarms it);
 * - a request number is granted at most once: the arm names the request, and the node records it
 *   as handled when it takes the made grant (Node.absorbArmedGrants).
 */
import type { ArmedGrant, Fabric, PeerId } from '../binding/fabric';
import { encodeMailbox, LOG_REGION, mailboxRegion } from './layout';

export interface GrantWish {
  /** The leader whose death makes the grant. */
  whenGone: PeerId;
  grantee: PeerId;
  /** The grantee's standing request at this node, which the grant answers. */
  grantSeq: number;
  /** This node's own standing request at the grantee (the box carries both numbers). */
  requestSeq: number;
}

export class ArmedGrantKeeper {
  /** The wish last given to the fabric ('' = none), armed or refused: not given again unchanged. */
  private given = '';
  /** Whether an arm may have been made since the last take (spares a fabric call per scan). */
  private mayHaveFired = false;

  constructor(private readonly fabric: Fabric, private readonly selfId: PeerId) {}

  /** Arm for `wish`, or disarm (null); the fabric is called only when the wish changed. */
  want(wish: GrantWish | null): void {
    const key = wish === null ? '' : `${wish.whenGone}/${wish.grantee}/${wish.grantSeq}/${wish.requestSeq}`;
    if (key === this.given) return;
    this.given = key;
    if (wish === null) {
      this.fabric.armGrant(null);
      return;
    }
    const box = encodeMailbox({ requestSeq: wish.requestSeq, grantSeq: wish.grantSeq });
    const armed = this.fabric.armGrant({
      whenGone: wish.whenGone, region: LOG_REGION, grantee: wish.grantee, boxRegion: mailboxRegion(this.selfId), boxOffset: 0, box, tag: wish.grantSeq,
    });
    if (armed) this.mayHaveFired = true;
  }

  /** Grants the fabric made from our arms since the last call; the arm is spent by them. */
  take(): ArmedGrant[] {
    if (!this.mayHaveFired) return [];
    const made = this.fabric.takeArmedGrants();
    // A grant spends the arm; with none armed now (disarmed), none can come after this call.
    if (made.length > 0) this.given = '';
    if (this.given === '') this.mayHaveFired = false;
    return made;
  }
}
