/**
 * Failure detection from heartbeat counters read one-sided (the background plane). A score with
 * hysteresis per peer: one slow read does not kill a peer, one lucky read does not revive it.
 */
import type { MuConfig } from './config';

export interface PeerLiveness {
  score: number;
  alive: boolean;
  lastHeartbeat: number;
  lastIncarnation: number;
}

export type ScoreChange = 'became-alive' | 'became-dead' | null;

export function newLiveness(): PeerLiveness {
  return { score: 0, alive: false, lastHeartbeat: -1, lastIncarnation: 0 };
}

/**
 * One scan's observation: the heartbeat read (null = read failed or torn). `missWeight`: how many
 * silent scans a miss counts as (a read the peer's host refused outright counts more than one
 * that found the heartbeat still).
 */
export function observe(
  p: PeerLiveness,
  heartbeat: number | null,
  incarnation: number,
  cfg: Pick<MuConfig, 'scoreMax' | 'scoreAliveAt' | 'scoreDeadAt'>,
  missWeight = 1,
): ScoreChange {
  const moved = heartbeat !== null && (heartbeat !== p.lastHeartbeat || incarnation !== p.lastIncarnation);
  if (heartbeat !== null) {
    p.lastHeartbeat = heartbeat;
    p.lastIncarnation = incarnation;
  }
  p.score = moved ? Math.min(cfg.scoreMax, p.score + 1) : Math.max(0, p.score - Math.max(1, missWeight));
  if (!p.alive && p.score >= cfg.scoreAliveAt) {
    p.alive = true;
    return 'became-alive';
  }
  if (p.alive && p.score <= cfg.scoreDeadAt) {
    p.alive = false;
    return 'became-dead';
  }
  return null;
}

/** The peer announced it is leaving (ctl status "leaving"): dead now, score at the bottom. */
export function forceDead(p: PeerLiveness, incarnation: number): ScoreChange {
  p.score = 0;
  p.lastIncarnation = incarnation;
  if (!p.alive) return null;
  p.alive = false;
  return 'became-dead';
}
