/**
 * How long after a client sent a request it may still take effect, which the checker needs to
 * close a segment after an unknown outcome (pure). The daemon proposes nothing of a write past its
 * deadline (--write-deadline-ms, from when the node read it); a request can sit unread in a frozen
 * node's socket for the longest pause; something proposed just before the deadline commits, or is
 * dropped, within one take-over, which the margin covers with room for a starved 2-core machine.
 */
export const DEFAULT_CHAOS_WRITE_DEADLINE_MS = 1500;
export const TAKEOVER_MARGIN_MS = 2000;

export function unknownHorizonFor(writeDeadlineMs: number, maxPauseMs: number): number {
  return writeDeadlineMs + maxPauseMs + TAKEOVER_MARGIN_MS;
}

/**
 * The horizon the check uses once the faults are known: a leader left without a majority (the
 * lose-majority fault) holds the writes it had taken until its followers are back, then commits
 * them, which can be past any write deadline (README: the one case). Those faults extend the
 * horizon by the longest time a majority was gone.
 */
export function unknownHorizonAfter(baseHorizonMs: number, faults: ReadonlyArray<{ kind: string; heldMs?: number }>): number {
  let longestLossMs = 0;
  for (const f of faults) if (f.kind === 'lose-majority' && f.heldMs !== undefined) longestLossMs = Math.max(longestLossMs, f.heldMs);
  return baseHorizonMs + Math.ceil(longestLossMs);
}
