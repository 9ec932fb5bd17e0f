/**
 * Random histories that are linearizable by construction: clients issue operations with random
 * overlaps on a few keys; each operation takes effect at a random instant inside its interval, and
 * a real register applied in that order produces the results. Some operations lose their reply
 * (outcome unknown): they took effect or not, at a random instant within `unknownEffectMs`.
 */
import { Op, OpKind } from '../../loadgen/chaos/history';
import { RegState, apply } from '../../loadgen/chaos/register-model';
import { makeRng } from '../../loadgen/rng';

export interface SimOptions {
  seed: number;
  clients: number;
  opsPerClient: number;
  keys: number;
  unknownRate: number;
  unknownEffectMs: number;
}

export function simulateHistory(o: SimOptions): Op[] {
  const rng = makeRng(o.seed);
  const kinds: OpKind[] = ['set', 'get', 'get', 'cas', 'incr', 'delete'];
  interface Pending { op: Op; effectMs: number; applies: boolean }
  const pending: Pending[] = [];
  let nextId = 1;
  let nextValue = 1;
  for (let c = 0; c < o.clients; c++) {
    let t = rng.next() * 5;
    for (let i = 0; i < o.opsPerClient; i++) {
      const invokeMs = t + rng.next() * 3;
      const durationMs = 0.1 + rng.next() * 6;
      const unknown = rng.next() < o.unknownRate;
      const kind = kinds[rng.below(kinds.length)];
      const key = `k${rng.below(o.keys)}`;
      const op: Op = { id: nextId++, client: c, key, kind, invokeMs, returnMs: unknown ? Infinity : invokeMs + durationMs };
      if (kind === 'set' || kind === 'cas') op.value = String(1_000_000 * nextValue++);
      if (kind === 'incr') op.value = String(1 + rng.below(5));
      const effectMs = invokeMs + rng.next() * (unknown ? o.unknownEffectMs : durationMs);
      pending.push({ op, effectMs, applies: !unknown || rng.next() < 0.5 });
      // After an unknown outcome (a timeout) the client carries on once it gave up waiting.
      t = invokeMs + durationMs;
    }
  }
  // A cas needs the value a client read: use the value the key held a moment before (a
  // "gets" that is not part of the history), so both STORED and EXISTS occur.
  const state = new Map<string, RegState>();
  const recent = new Map<string, RegState[]>();
  for (const p of [...pending].sort((a, b) => a.effectMs - b.effectMs)) {
    const cur = state.get(p.op.key) ?? null;
    const seen = recent.get(p.op.key) ?? [null];
    if (p.op.kind === 'cas') p.op.expected = String(seen[rng.below(seen.length)] ?? cur ?? 'none');
    if (!p.applies) continue;
    const { next, output } = apply(cur, p.op);
    p.op.result = output;
    state.set(p.op.key, next);
    recent.set(p.op.key, [next, ...seen].slice(0, 3));
  }
  for (const p of pending) if (p.op.result === undefined && p.op.returnMs !== Infinity) p.op.result = null;
  return pending.map((p) => p.op);
}
