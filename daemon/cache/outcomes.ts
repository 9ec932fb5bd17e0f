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
 * - A node decides a tag at most once at a time: a copy that arrives while a try is still being
 *   decided or in flight there joins it (`pending`); a later leader finds the record instead.
 * - Records live at least `retentionMs` after they are applied, longer than any write's deadline,
 *   so no retry can outlive the record of its first try (unless more than `maxRecords` pile up
 *   within it: the oldest go early, and the log says so once).
 */
import { decodeTagged, encodeTagged } from '../tagged-json';
import { UINT64_MAX } from './numeric';
import { PLAIN_RESULT_STATUSES as STATUS_RESULTS } from './types';

/** Who sent a forwarded write: node id, a random number per process start, a counter. */
export interface WriteTag {
  origin: number;
  session: number;
  seq: number;
}

/** A forwarded write's result as the log records it (encodeResult). */
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
/** Sessions are below 2^21: a small integer, cheap as a Map key (TagMap). */
const SESSIONS = 0x20_0000;

export function isWriteTag(v: unknown): v is WriteTag {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  const below = (x: unknown, limit: number) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < limit;
  return below(t.origin, U32) && below(t.session, SESSIONS) && below(t.seq, U32);
}

// Result forms: tagged JSON, or a status (index in STATUS_RESULTS) alone (2 bytes) or with a CAS (10).
const RESULT_JSON = 0;
const RESULT_STATUS = 1;
const RESULT_STATUS_CAS = 2;

/** A write's result as the log records it: a status byte form for the common results, else tagged JSON. */
export function encodeResult(result: unknown): Buffer {
  if (result !== null && typeof result === 'object') {
    const r = result as Record<string, unknown>;
    const status = (STATUS_RESULTS as readonly unknown[]).indexOf(r.status);
    let fields = 0;
    for (const k in r) if (r[k] !== undefined) fields++;
    const cas = r.cas;
    if (status >= 0 && fields === 1) return Buffer.from([RESULT_STATUS, status]);
    if (status >= 0 && fields === 2 && typeof cas === 'bigint' && cas >= 0n && cas <= UINT64_MAX) {
      const out = Buffer.allocUnsafe(10);
      out[0] = RESULT_STATUS_CAS;
      out[1] = status;
      out.writeBigUInt64LE(cas, 2);
      return out;
    }
  }
  return Buffer.concat([Buffer.from([RESULT_JSON]), encodeTagged(result)]);
}

/** The status index of a record in a status form (its CAS, if any, at byte 2), or -1 for any other bytes. */
function statusOf(bytes: Buffer): number {
  if (bytes.length < 2 || bytes[1] >= STATUS_RESULTS.length) return -1;
  const form = bytes[0];
  return (form === RESULT_STATUS && bytes.length === 2) || (form === RESULT_STATUS_CAS && bytes.length === 10) ? bytes[1] : -1;
}

/** The inverse of encodeResult; throws on bytes it did not make. */
export function decodeResult(bytes: Buffer): unknown {
  if (bytes[0] === RESULT_JSON) return decodeTagged(bytes.subarray(1));
  const status = statusOf(bytes);
  if (status < 0) throw new Error(`malformed outcome record (${bytes.length} bytes, form ${bytes[0]})`);
  return bytes.length === 10 ? { status: STATUS_RESULTS[status], cas: bytes.readBigUInt64LE(2) } : { status: STATUS_RESULTS[status] };
}

export function outcomeRecord(tag: WriteTag, result: unknown): OutcomeRecord {
  return { tag, result: encodeResult(result) };
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
      this.session = Math.floor(Math.random() * SESSIONS);
      this.seq = 0;
    }
    return { origin: this.origin, session: this.session, seq: this.seq++ };
  }
}

/**
 * The records kept, oldest first, in parallel typed arrays (a ring that doubles when full): no JS
 * object per record, so a table of a quarter million records costs the garbage collector nothing
 * (as objects they were copied out of the young generation and marked ever after: +20% CPU per
 * write through a follower). The common results, a status and maybe a CAS below 2^53, are numbers;
 * any other result keeps its encoded bytes in a side map.
 */
class RecordRing {
  private cap = 1024;
  private origin = new Uint32Array(this.cap);
  private session = new Uint32Array(this.cap);
  private seq = new Uint32Array(this.cap);
  private index = new Float64Array(this.cap);
  private atMs = new Float64Array(this.cap);
  /** Index in STATUS_RESULTS, or -1: the result is in `bytes`. */
  private status = new Int8Array(this.cap);
  /** The CAS, or -1 for none. */
  private cas = new Float64Array(this.cap);
  private readonly bytes = new Map<number, Buffer>();
  /** Ring positions of the oldest record and of the next free slot (head === tail: empty). */
  head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Appends; returns its slot. `onMove(slot)` is told each live record's new slot when the ring grows. */
  push(tag: WriteTag, result: Buffer, index: number, atMs: number, onMove: (tag: WriteTag, slot: number) => void): number {
    if (this.count === this.cap) this.grow(onMove);
    const slot = (this.head + this.count) & (this.cap - 1);
    this.origin[slot] = tag.origin;
    this.session[slot] = tag.session;
    this.seq[slot] = tag.seq;
    this.index[slot] = index;
    this.atMs[slot] = atMs;
    this.status[slot] = -1;
    this.cas[slot] = -1;
    this.bytes.delete(slot);
    const status = statusOf(result);
    const cas = status >= 0 && result.length === 10 ? result.readBigUInt64LE(2) : -1n;
    if (status >= 0 && cas <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.status[slot] = status;
      this.cas[slot] = Number(cas);
    } else {
      this.bytes.set(slot, result);
    }
    this.count++;
    return slot;
  }

  /** The oldest record's slot, or -1 when empty. */
  oldest(): number {
    return this.count === 0 ? -1 : this.head;
  }

  shift(): void {
    this.bytes.delete(this.head);
    this.head = (this.head + 1) & (this.cap - 1);
    this.count--;
  }

  /** Slots oldest first. */
  *slots(): Generator<number> {
    for (let k = 0; k < this.count; k++) yield (this.head + k) & (this.cap - 1);
  }

  isTag(slot: number, tag: WriteTag): boolean {
    return this.origin[slot] === tag.origin && this.session[slot] === tag.session && this.seq[slot] === tag.seq;
  }

  tagAt(slot: number): WriteTag {
    return { origin: this.origin[slot], session: this.session[slot], seq: this.seq[slot] };
  }

  indexAt(slot: number): number {
    return this.index[slot];
  }

  atMsOf(slot: number): number {
    return this.atMs[slot];
  }

  resultAt(slot: number): unknown {
    const raw = this.bytes.get(slot);
    if (raw !== undefined) return decodeResult(raw);
    const status = STATUS_RESULTS[this.status[slot]];
    return this.cas[slot] < 0 ? { status } : { status, cas: BigInt(this.cas[slot]) };
  }

  encodedAt(slot: number): Buffer {
    return this.bytes.get(slot) ?? encodeResult(this.resultAt(slot));
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.bytes.clear();
  }

  private grow(onMove: (tag: WriteTag, slot: number) => void): void {
    const old = { origin: this.origin, session: this.session, seq: this.seq, index: this.index, atMs: this.atMs, status: this.status, cas: this.cas };
    const oldBytes = new Map(this.bytes);
    const oldCap = this.cap;
    this.cap *= 2;
    this.origin = new Uint32Array(this.cap);
    this.session = new Uint32Array(this.cap);
    this.seq = new Uint32Array(this.cap);
    this.index = new Float64Array(this.cap);
    this.atMs = new Float64Array(this.cap);
    this.status = new Int8Array(this.cap);
    this.cas = new Float64Array(this.cap);
    this.bytes.clear();
    for (let k = 0; k < this.count; k++) {
      const from = (this.head + k) & (oldCap - 1);
      this.origin[k] = old.origin[from];
      this.session[k] = old.session[from];
      this.seq[k] = old.seq[from];
      this.index[k] = old.index[from];
      this.atMs[k] = old.atMs[from];
      this.status[k] = old.status[from];
      this.cas[k] = old.cas[from];
      const raw = oldBytes.get(from);
      if (raw !== undefined) this.bytes.set(k, raw);
      onMove(this.tagAt(k), k);
    }
    this.head = 0;
  }
}

/**
 * Records by origin, session, then seq: small integers all the way down (a number key over 2^31,
 * or a string, made every lookup and insert several times slower).
 */
class TagMap<V> {
  private readonly byOrigin = new Map<number, Map<number, Map<number, V>>>();
  /** The seq map of the (origin, session) used last: nearly every tag is from the same few. */
  private lastOrigin = -1;
  private lastSession = -1;
  private lastSeqs: Map<number, V> | undefined = undefined;

  get(tag: WriteTag): V | undefined {
    return this.seqs(tag, false)?.get(tag.seq);
  }

  set(tag: WriteTag, v: V): void {
    this.seqs(tag, true)!.set(tag.seq, v);
  }

  delete(tag: WriteTag): void {
    // An emptied seq map stays: sessions are few (one per process start of each node).
    this.seqs(tag, false)?.delete(tag.seq);
  }

  clear(): void {
    this.byOrigin.clear();
    this.lastOrigin = -1;
    this.lastSeqs = undefined;
  }

  private seqs(tag: WriteTag, create: boolean): Map<number, V> | undefined {
    if (tag.origin === this.lastOrigin && tag.session === this.lastSession && this.lastSeqs !== undefined) return this.lastSeqs;
    let sessions = this.byOrigin.get(tag.origin);
    if (sessions === undefined) {
      if (!create) return undefined;
      this.byOrigin.set(tag.origin, (sessions = new Map()));
    }
    let seqs = sessions.get(tag.session);
    if (seqs === undefined) {
      if (!create) return undefined;
      sessions.set(tag.session, (seqs = new Map()));
    }
    this.lastOrigin = tag.origin;
    this.lastSession = tag.session;
    this.lastSeqs = seqs;
    return seqs;
  }
}

export class OutcomeTable {
  /** Applied records: their slots in `ring`, by tag. */
  private readonly applied = new TagMap<number>();
  private readonly ring = new RecordRing();
  /** Leader only: tagged writes being decided or in flight here. */
  private readonly pending = new TagMap<Promise<RecordedOutcome>>();
  private warnedFull = false;
  private readonly moved = (tag: WriteTag, slot: number) => {
    this.applied.set(tag, slot);
  };

  constructor(
    private readonly retentionMs: number,
    private readonly maxRecords: number,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  get size(): number {
    return this.ring.size;
  }

  /** Every replica, for each committed entry in log order. */
  record(outcomes: OutcomeRecord[], index: number): void {
    const now = this.nowMs();
    for (const o of outcomes) this.keep(o.tag, o.result, index, now);
    this.expire(now);
  }

  /** The recorded outcome of `tag`, if a committed entry holds it. */
  lookup(tag: WriteTag): RecordedOutcome | undefined {
    const slot = this.applied.get(tag);
    return slot === undefined ? undefined : { result: this.ring.resultAt(slot), index: this.ring.indexAt(slot) };
  }

  /** What a snapshot carries: every record kept, oldest first. */
  snapshot(): SnapshotOutcome[] {
    const out: SnapshotOutcome[] = [];
    for (const slot of this.ring.slots()) {
      const tag = this.ring.tagAt(slot);
      if (this.applied.get(tag) === slot) out.push({ tag, result: this.ring.encodedAt(slot), index: this.ring.indexAt(slot) });
    }
    return out;
  }

  /** Replaces the records with a snapshot's (they count as applied now, for retention). */
  install(records: SnapshotOutcome[]): void {
    this.applied.clear();
    this.ring.clear();
    const now = this.nowMs();
    for (const r of records) this.keep(r.tag, r.result, r.index, now);
    this.expire(now);
  }

  /** The try of `tag` being decided or in flight on this node, if any. */
  inFlight(tag: WriteTag): Promise<RecordedOutcome> | undefined {
    return this.pending.get(tag);
  }

  /**
   * Runs `decide` as the one try of `tag` on this node; copies arriving meanwhile get its promise.
   * The try ends once `decide` settles: before `onError` runs (which may decide again, elsewhere
   * or here, as a new try), so copies arriving after that decide again or read the record.
   */
  decideOnce(tag: WriteTag, decide: () => Promise<RecordedOutcome>, onError: (err: Error) => Promise<RecordedOutcome>): Promise<RecordedOutcome> {
    let run: Promise<RecordedOutcome> | null = null;
    const release = () => {
      if (this.pending.get(tag) === run) this.pending.delete(tag);
    };
    run = decide().then(
      (r) => { release(); return r; },
      (err: Error) => { release(); return onError(err); },
    );
    this.pending.set(tag, run);
    return run;
  }

  private keep(tag: WriteTag, result: Buffer, index: number, now: number): void {
    // A tag recorded again (it must not be: one decision per tag) keeps its newest record.
    const slot = this.ring.push(tag, result, index, now, this.moved);
    this.applied.set(tag, slot);
  }

  private expire(now: number): void {
    for (let slot = this.ring.oldest(); slot >= 0; slot = this.ring.oldest()) {
      const old = now - this.ring.atMsOf(slot) >= this.retentionMs;
      if (!old && this.ring.size <= this.maxRecords) break;
      if (!old && !this.warnedFull) {
        this.warnedFull = true;
        this.warn(`more than ${this.maxRecords} forwarded-write outcomes within ${this.retentionMs} ms: dropping the oldest early (a retry of one of them would be decided again)`);
      }
      const tag = this.ring.tagAt(slot);
      if (this.applied.get(tag) === slot) this.applied.delete(tag);
      this.ring.shift();
    }
  }
}
