/**
 * Exactly-once forwarded writes. A follower tags each write it forwards; the leader records the
 * tag and the write's result in the same log entry as its effects, and every replica keeps the
 * recent records. When the link to the leader fails with the write's fate unknown (the leader was
 * killed, cut off or deposed mid-write), the follower sends the same tagged write again, to
 * whichever node leads then. That leader has applied everything decided before its term (Mu's
 * prepare found every entry the old leader could ever commit), so its table tells the truth: a
 * recorded tag is answered from the record, and an unknown one provably never took effect and is
 * decided afresh. Without this, the client got "outcome unknown" for an incr that may or may not
 * have happened.
 *
 * Invariants:
 * - A tag is decided at most once per leader: a retry that arrives while the first try is still in
 *   flight on the leader waits for it (`pending`), never decides again.
 * - Records live at least `retentionMs` after they are applied, longer than any write's deadline,
 *   so no retry can outlive the record of its first try.
 */
import { decodeTagged, encodeTagged } from '../tagged-json';

/** Who sent a forwarded write: node id, a random number per process start, a counter. */
export interface WriteTag {
  origin: number;
  session: number;
  seq: number;
}

/** A forwarded write's result as the log records it (tagged JSON bytes). */
export interface OutcomeRecord {
  tag: WriteTag;
  result: Buffer;
}

/** A record as a snapshot carries it to a node restarted empty (the table is part of the state). */
export interface SnapshotOutcome extends OutcomeRecord {
  index: number;
}

export interface RecordedOutcome {
  result: unknown;
  /** Log index of the entry that recorded it. */
  index: number;
}

const U32 = 0x1_0000_0000;

export function isWriteTag(v: unknown): v is WriteTag {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  const u32 = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < U32;
  return u32(t.origin) && u32(t.session) && u32(t.seq);
}

function keyOf(tag: WriteTag): string {
  return `${tag.origin}.${tag.session}.${tag.seq}`;
}

export function outcomeRecord(tag: WriteTag, result: unknown): OutcomeRecord {
  return { tag, result: encodeTagged(result) };
}

/** Tags for the writes this node forwards. */
export class TagSource {
  private session = 0;
  private seq = U32;

  constructor(private readonly origin: number) {}

  next(): WriteTag {
    // A new random session whenever the counter wraps (and at start): tags of an earlier process
    // of this node, still in the others' tables, are not ours.
    if (this.seq >= U32) {
      this.session = Math.floor(Math.random() * U32);
      this.seq = 0;
    }
    return { origin: this.origin, session: this.session, seq: this.seq++ };
  }
}

export class OutcomeTable {
  /** Applied records by tag, oldest first (Map keeps insertion order). */
  private readonly applied = new Map<string, { tag: WriteTag; result: Buffer; index: number; atMs: number }>();
  /** Leader only: tagged writes being decided or in flight here. */
  private readonly pending = new Map<string, Promise<RecordedOutcome>>();
  private warnedFull = false;

  constructor(
    private readonly retentionMs: number,
    private readonly maxRecords: number,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  get size(): number {
    return this.applied.size;
  }

  /** Every replica, for each committed entry in log order. */
  record(outcomes: OutcomeRecord[], index: number): void {
    const now = this.nowMs();
    for (const o of outcomes) this.applied.set(keyOf(o.tag), { tag: o.tag, result: o.result, index, atMs: now });
    this.expire(now);
  }

  /** What a snapshot carries: every record kept, oldest first. */
  snapshot(): SnapshotOutcome[] {
    return [...this.applied.values()].map((r) => ({ tag: r.tag, result: r.result, index: r.index }));
  }

  /** Replaces the records with a snapshot's (they count as applied now, for retention). */
  install(records: SnapshotOutcome[]): void {
    this.applied.clear();
    const now = this.nowMs();
    for (const r of records) this.applied.set(keyOf(r.tag), { tag: r.tag, result: r.result, index: r.index, atMs: now });
    this.expire(now);
  }

  /** The recorded outcome of `tag`, if a committed entry holds it. */
  lookup(tag: WriteTag): RecordedOutcome | undefined {
    const r = this.applied.get(keyOf(tag));
    return r === undefined ? undefined : { result: decodeTagged(r.result), index: r.index };
  }

  /** The first try of `tag` still running on this leader, if any. */
  inFlight(tag: WriteTag): Promise<RecordedOutcome> | undefined {
    return this.pending.get(keyOf(tag));
  }

  /** Runs `decide` as the one try of `tag` on this node; retries meanwhile get its promise. */
  decideOnce(tag: WriteTag, decide: () => Promise<RecordedOutcome>): Promise<RecordedOutcome> {
    const key = keyOf(tag);
    const run = decide();
    this.pending.set(key, run);
    const done = () => {
      if (this.pending.get(key) === run) this.pending.delete(key);
    };
    run.then(done, done);
    return run;
  }

  private expire(now: number): void {
    for (const [key, r] of this.applied) {
      if (now - r.atMs < this.retentionMs && this.applied.size <= this.maxRecords) break;
      if (now - r.atMs < this.retentionMs && !this.warnedFull) {
        this.warnedFull = true;
        this.warn(`more than ${this.maxRecords} forwarded-write outcomes within ${this.retentionMs} ms: dropping the oldest early (a retry of one of them would be decided again)`);
      }
      this.applied.delete(key);
    }
  }
}
