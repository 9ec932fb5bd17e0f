/**
 * The fault timings a run uses, from what the command line asked (pure). Pauses and partitions
 * outlast the failure detector (a peer is dead after ~20 silent scans of 5 ms, ~100 ms) several
 * times over, so each one really forces an election; with a quota the gaps shrink to fit the run.
 */
import type { FaultOptions } from './faults';
import { defaultFaultsPerKind, faultKindsFor } from './schedule';

export interface FaultAsk {
  fabric: 'shm' | 'tcp';
  durationMs: number;
  /** undefined: the default for the length (50 per kind from 10 minutes on); 0: no quota. */
  faultsPerKind?: number;
  recoverTimeoutMs: number;
}

export function faultOptionsFor(a: FaultAsk): FaultOptions {
  const quota = a.faultsPerKind === undefined ? defaultFaultsPerKind(a.durationMs / 60_000) : a.faultsPerKind === 0 ? null : a.faultsPerKind;
  return {
    kinds: faultKindsFor(a.fabric),
    faultsPerKind: quota,
    durationMs: a.durationMs,
    // A quota not met in time gets at most as long again; the report then says it was not met.
    hardCapMs: quota === null ? a.durationMs : 2 * a.durationMs,
    minGapMs: quota === null ? 500 : 0,
    maxGapMs: 1500,
    minPauseMs: 450,
    maxPauseMs: 800,
    minHoldMs: 500,
    maxHoldMs: 1000,
    recoverTimeoutMs: a.recoverTimeoutMs,
  };
}
