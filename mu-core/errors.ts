/** Errors a proposer can see. The daemon maps them to its own replies (forward, retry, SERVER_ERROR). */

/** This node is not the leader (or not yet: take-over in progress). Nothing was written. */
export class NotLeaderError extends Error {
  readonly code = 'NotLeader';
  constructor(readonly leaderHint: number | null) {
    super(leaderHint === null ? 'not the leader; no leader known' : `not the leader; leader is ${leaderHint}`);
  }
}

/**
 * Leadership was lost while the entry was in flight. The entry may or may not be committed later
 * (a new leader adopts what it finds); the caller must not report success.
 *
 * `entryIndex`: the log index the entry was written at in this node's log (its last slot for an
 * entry in parts), or 0 if it was never written anywhere (still queued: it can never commit). A
 * written entry's fate is whatever the reading pump delivers at that index later: this entry (it
 * was committed after all) or another one (it never will be).
 */
export class LostLeadershipError extends Error {
  readonly code = 'LostLeadership';
  constructor(detail: string, readonly entryIndex = 0) {
    // Said in the message too: a client must treat the write as of unknown outcome, not as failed.
    super(`lost leadership, outcome unknown (the write may still be applied): ${detail}`);
  }
}

/** The payload does not fit in one log slot. */
export class EntryTooLargeError extends Error {
  readonly code = 'EntryTooLarge';
  constructor(payloadBytes: number, maxPayloadBytes: number) {
    super(`entry of ${payloadBytes} bytes exceeds the log entry limit of ${maxPayloadBytes} bytes`);
  }
}

/** An invariant of the protocol does not hold: a bug, never a recoverable condition. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`mu-core invariant violated: ${message}`);
}
