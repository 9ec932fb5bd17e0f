/** Settings of one Mu group. Timings are per fabric: shm detects in well under a millisecond. */

export interface MuConfig {
  /** Slots in the log ring. */
  slotCount: number;
  /** Bytes per slot, header included; the payload limit is slotBytes - SLOT_HEADER_BYTES. */
  slotBytes: number;
  /** How often a node bumps its heartbeat counter. */
  heartbeatIntervalMs: number;
  /** How often a node reads its peers' control regions and checks its mailboxes. */
  scanIntervalMs: number;
  /** Score hysteresis: +1 per scan that saw the heartbeat move, -1 otherwise, clamped to [0, scoreMax]. */
  scoreMax: number;
  /** A dead peer becomes alive when its score reaches this. */
  scoreAliveAt: number;
  /** An alive peer becomes dead when its score falls to this. */
  scoreDeadAt: number;
  /** Scans before a node may stand as candidate, so the first view has settled. */
  startupScans: number;
  /** A candidate re-sends its permission requests after this long without a majority. */
  permissionRetryMs: number;
  /** The leader publishes its commit point this long after it advanced, if no slot carried it. */
  commitPublishDelayMs: number;
  /** Followers poll their own log this often while entries arrive. */
  pumpIntervalMs: number;
  /**
   * While nothing arrives (and while leading, when commits feed the pump), the poll period doubles
   * from pumpIntervalMs up to this: an idle node wakes less often. = pumpIntervalMs: no back-off.
   */
  pumpIdleMaxMs: number;
  /**
   * Longest the leader holds new entries, per episode, for a streaming follower whose unapplied
   * slots they would overwrite (leader.ts, ring hold); past it the follower falls out of the ring
   * and gets a state transfer. 0: never hold. Default: the failure detector's fuse.
   */
  ringHoldMs: number;
  /**
   * A leader that sees fewer than a majority alive (itself included) for this long steps down: the
   * entries it holds undecided fail with LostLeadership (outcome unknown: a majority may return
   * and commit them) and new proposals with NotLeader, instead of waiting for a majority with no
   * bound. Default: the failure detector's fuse.
   */
  quorumLossMs: number;
  /** Writes in flight per follower; beyond this entries wait (batched into the next write). */
  maxInflightPerPeer: number;
  /** Most slots in one write. */
  maxBatchSlots: number;
  /**
   * Prepare reads a peer's log from the candidate's applied index on, this many bytes of slots first
   * (at least 4 slots), then as much again as it read so far and at least the rest of what the peer
   * applied, while the run may go on (log-reader.ts).
   */
  prepareFirstReadBytes: number;
  /** Upper bound of one wait for completions. */
  completionWaitMs: number;
  /** Busy-poll completions this long before sleeping (0 = never; must be 0 in the simulation). */
  completionBusyPollMs: number;
  /**
   * While leadership changes (a peer lost, or this node standing), check the permission mailboxes
   * this often instead of once per scan (0 = only on scans). Under 1 ms the real scheduler polls
   * from setImmediate: a busy event loop, for electionWindowScans scan intervals per change.
   */
  electionPollMs: number;
  /** How long the election poll runs after a change, in scan intervals. */
  electionWindowScans: number;
  /**
   * How many silent scans a control read failing with 'unreachable' counts as. (A read failing
   * with 'gone', the peer's side saying nothing serves it any more, always counts as the whole
   * fuse.) On shm 'unreachable' is a peer this node is not connected to: the whole fuse too. On
   * tcp it is a connection still being made or lost without an answer from the peer's host (a
   * timeout, a dropped link): strong evidence, but a third.
   */
  unreachableMissScans: number;
}

/**
 * Defaults per fabric. Intervals under 1 ms make the real scheduler poll from setImmediate (a busy
 * event loop, like Mu's polling threads): worth it with a core per node, harmful when nodes share
 * cores, so the shipped defaults stay at 1 ms and tools expose --heartbeat-ms / --scan-ms.
 * A peer is declared dead after (scoreMax - scoreDeadAt) scans without heartbeat progress.
 */
export function defaultConfig(kind: 'shm' | 'tcp' | 'verbs' | 'sim'): MuConfig {
  const base: MuConfig = {
    slotCount: 4096,
    slotBytes: 1024,
    heartbeatIntervalMs: 1,
    scanIntervalMs: 1,
    // Dead after 12 scans without progress: a Node.js process sharing cores stalls for 5-15 ms
    // now and then (JIT, GC, scheduling); a shorter fuse makes leadership flap.
    scoreMax: 16,
    scoreAliveAt: 8,
    scoreDeadAt: 3,
    startupScans: 10,
    permissionRetryMs: 2,
    commitPublishDelayMs: 0.05,
    pumpIntervalMs: 1,
    pumpIdleMaxMs: 1,
    maxInflightPerPeer: 16,
    maxBatchSlots: 64,
    prepareFirstReadBytes: 64 * 1024,
    completionWaitMs: 1,
    completionBusyPollMs: 0,
    // Off by default: the poll busy-spins the event loop, which on nodes sharing cores (as here)
    // starves the very peer whose grant it waits for. With a core per node, 0.02 saves ~1-2 scans.
    electionPollMs: 0,
    electionWindowScans: 10,
    unreachableMissScans: 1,
    ringHoldMs: 0,
    quorumLossMs: 0,
  };
  // As long as the failure detector's fuse: a follower held for longer is dead or lastingly slower.
  base.ringHoldMs = (base.scoreMax - base.scoreDeadAt) * base.scanIntervalMs;
  base.quorumLossMs = base.ringHoldMs;
  if (kind === 'tcp' || kind === 'verbs') {
    // An unanswered connection drops the score by a third of the fuse: 3 such reads and the peer
    // is dead; a slow read still counts 1, a refused or reset connection ('gone') the whole fuse.
    const unreachableMissScans = Math.ceil((base.scoreMax - base.scoreDeadAt) / 3);
    if (kind === 'verbs') return { ...base, unreachableMissScans };
    return { ...base, scanIntervalMs: 2, ringHoldMs: 2 * base.ringHoldMs, quorumLossMs: 2 * base.quorumLossMs, permissionRetryMs: 5, commitPublishDelayMs: 0.2, completionBusyPollMs: 0.5, unreachableMissScans };
  }
  if (kind === 'shm') return { ...base, unreachableMissScans: base.scoreMax - base.scoreDeadAt };
  if (kind === 'sim') {
    return {
      ...base, slotCount: 16, slotBytes: 128, heartbeatIntervalMs: 0.5, scanIntervalMs: 1, scoreMax: 8, scoreAliveAt: 4,
      scoreDeadAt: 2, permissionRetryMs: 3, commitPublishDelayMs: 0.3, pumpIntervalMs: 0.5, pumpIdleMaxMs: 0.5, maxInflightPerPeer: 4, maxBatchSlots: 4,
      // 4 slots: prepare reads a log in several windows, often across the end of the ring.
      prepareFirstReadBytes: 4 * 128,
      electionPollMs: 0.05, electionWindowScans: 8, unreachableMissScans: 2, ringHoldMs: 6, quorumLossMs: 6,
    };
  }
  return base;
}
