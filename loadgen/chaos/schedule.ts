/**
 * The fault schedule, pure: which kinds a fabric allows, the seeded rounds (each round a shuffle of
 * every kind, so counts stay within one of each other), the gap before the next fault and when the
 * fault phase is over. With a per-kind quota the gaps are computed from the time left, the faults
 * left and the mean length of a fault so far, so a run of the requested length reaches the quota;
 * if it has not by the end, faults go on back to back until it has or the hard cap passes.
 */
import { Rng } from '../rng';

export type FaultKind =
  | 'kill-leader' | 'kill-follower' | 'stop-leader' | 'restart' | 'lose-majority'
  | 'partition-leader' | 'partition-follower' | 'split-brain';

/** lose-majority: SIGKILL of enough followers that the leader is left without a majority, then their restart (empty). */
export const PROCESS_FAULT_KINDS: readonly FaultKind[] = ['kill-leader', 'kill-follower', 'stop-leader', 'restart', 'lose-majority'];
export const PARTITION_FAULT_KINDS: readonly FaultKind[] = ['partition-leader', 'partition-follower', 'split-brain'];
export const ALL_FAULT_KINDS: readonly FaultKind[] = [...PROCESS_FAULT_KINDS, ...PARTITION_FAULT_KINDS];

/** Partitions need the tcp fabric in network namespaces; shm nodes share one host's memory. */
export function faultKindsFor(fabric: 'shm' | 'tcp'): FaultKind[] {
  return fabric === 'tcp' ? [...ALL_FAULT_KINDS] : [...PROCESS_FAULT_KINDS];
}

export function nextKind(rng: Rng, round: FaultKind[], kinds: readonly FaultKind[]): FaultKind {
  if (round.length === 0) {
    const shuffled = [...kinds];
    for (let i = shuffled.length - 1; i > 0; i--) { const j = rng.below(i + 1); [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]; }
    round.push(...shuffled);
  }
  return round.shift() as FaultKind;
}

export interface GapOptions {
  kinds: number;
  /** null: no quota, gaps are seeded in [minGapMs, maxGapMs]. */
  faultsPerKind: number | null;
  minGapMs: number;
  maxGapMs: number;
  durationMs: number;
}

export interface ScheduleState {
  elapsedMs: number;
  faultsDone: number;
  /** Mean time from a fault's start to the cluster's recovery so far (0 before the first). */
  meanFaultMs: number;
}

/** The seeded pause before the next fault. */
export function nextGapMs(rng: Rng, o: GapOptions, s: ScheduleState): number {
  const seeded = o.minGapMs + rng.below(o.maxGapMs - o.minGapMs + 1);
  if (o.faultsPerKind === null) return seeded;
  const remaining = o.kinds * o.faultsPerKind - s.faultsDone;
  if (remaining <= 0) return seeded;
  const budgetMs = (o.durationMs - s.elapsedMs) / remaining - s.meanFaultMs;
  // +-25% jitter so faults do not fall into lockstep with anything periodic in the daemon.
  const jittered = budgetMs * (0.75 + rng.below(501) / 1000);
  return Math.max(0, Math.min(o.maxGapMs, Math.floor(jittered)));
}

export function quotaMet(counts: ReadonlyMap<FaultKind, number>, kinds: readonly FaultKind[], faultsPerKind: number | null): boolean {
  return faultsPerKind === null || kinds.every((k) => (counts.get(k) ?? 0) >= faultsPerKind);
}

/** The fault phase ends at durationMs once the quota is met, and at hardCapMs regardless. */
export function faultPhaseOver(elapsedMs: number, durationMs: number, hardCapMs: number, met: boolean): boolean {
  return elapsedMs >= hardCapMs || (elapsedMs >= durationMs && met);
}

/** The default quota: 50 of every kind for a run of 10 minutes or more, none for shorter runs. */
export function defaultFaultsPerKind(minutes: number): number | null {
  return minutes >= 10 ? 50 : null;
}
