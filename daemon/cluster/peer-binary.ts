/**
 * Binary bodies for the two peer messages every forwarded set sends: the store op (follower to
 * leader) and a reply carrying a status-only result (leader to follower). As JSON, with base64
 * values and tagged bigints, encoding and decoding them took about a third of the leader's CPU per
 * forwarded write (perf profile); here they are plain bytes. Every other message stays JSON.
 *
 * A frame body starting with '{' is JSON; one starting with a kind byte below is binary. A message
 * is sent binary only when it has exactly the fields written here, each of the expected type, so
 * decoding always gives back an object equal to what was encoded (an absent optional field stays
 * absent, as JSON leaves out an undefined one). A body that does not decode exactly, trailing
 * bytes included, is refused and the link drops the connection, as with bad JSON.
 *
 * Store op (kind 1), little-endian:
 *   u8 kind | f64 id | f64 deadlineAtMs | f64 budgetMs | u8 mode | u8 optional-field bits
 *   | u32 flags | f64 exptime | [u64 compareCas] | [u64 explicitCas] | u32 keyBytes | key
 *   | u32 valueBytes | value | [u32 tag origin | u32 tag session | u32 tag seq]
 * Reply (kind 2), always ok:
 *   u8 kind | f64 id | u8 status | u8 optional-field bits | [u64 cas] | f64 index
 *   | [f64 commitIndex] | [f64 proposal]
 */
import { UINT64_MAX } from '../cache/numeric';
import { isWriteTag } from '../cache/outcomes';
import { PLAIN_RESULT_STATUSES as STATUSES, StoreMode, StoreOp } from '../cache/types';

const KIND_STORE_OP = 1;
const KIND_STATUS_REPLY = 2;

const MODES: readonly StoreMode[] = ['set', 'add', 'replace', 'append', 'prepend', 'cas'];

// Store op optional fields.
const OP_COMPARE_CAS = 1;
const OP_EXPLICIT_CAS = 2;
const OP_INVALIDATE = 4;
const OP_INVALIDATE_TRUE = 8;
const OP_KEY_BINARY = 16;
const OP_KEY_BINARY_TRUE = 32;
const OP_TAG = 64;
const OP_BITS = 127;
// Reply optional fields.
const REPLY_CAS = 1;
const REPLY_COMMIT_INDEX = 2;
const REPLY_PROPOSAL = 4;
const REPLY_BITS = 7;

const OP_MESSAGE_FIELDS = new Set(['t', 'id', 'op', 'deadlineAtMs', 'budgetMs', 'tag']);
// `valueOwned` (the text handler's: its value buffer is its own) says nothing about the peer's copy
// of the value, so it is not sent. Before it was allowed here, every text-protocol set a follower
// forwarded went as JSON, base64 value and all (encode and decode cost ~9 µs a write).
const STORE_OP_FIELDS = new Set(['op', 'mode', 'key', 'value', 'valueOwned', 'flags', 'exptime', 'compareCas', 'explicitCas', 'invalidate', 'keyBinary']);
const REPLY_FIELDS = new Set(['t', 'id', 'ok', 'result', 'index', 'commitIndex', 'proposal']);
const RESULT_FIELDS = new Set(['status', 'cas']);

/** True if the first body byte says JSON (every JSON message is an object). */
export function isJsonBody(firstByte: number): boolean {
  return firstByte === 0x7b; // '{'
}

type Fields = Record<string, unknown>;

function isObject(v: unknown): v is Fields {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Every defined field of `v` is one of `allowed` (undefined ones vanish, as in JSON). */
function onlyFields(v: Fields, allowed: Set<string>): boolean {
  for (const key in v) if (v[key] !== undefined && !allowed.has(key)) return false;
  return true;
}

const isU64 = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= UINT64_MAX;
const isNum = (v: unknown): v is number => typeof v === 'number';

/** The message's binary body with room for the 4-byte frame length in front, or null: use JSON. */
export function encodeBinaryFrame(message: unknown): Buffer | null {
  if (!isObject(message)) return null;
  if (message.t === 'op') return encodeStoreOp(message);
  if (message.t === 'reply') return encodeStatusReply(message);
  return null;
}

function encodeStoreOp(m: Fields): Buffer | null {
  const op = m.op;
  if (!onlyFields(m, OP_MESSAGE_FIELDS) || !isNum(m.id) || !isNum(m.deadlineAtMs) || !isNum(m.budgetMs) || !isObject(op)) return null;
  if (op.op !== 'store' || !onlyFields(op, STORE_OP_FIELDS)) return null;
  const mode = MODES.indexOf(op.mode as StoreMode);
  const { key, value, flags, exptime, compareCas, explicitCas, invalidate, keyBinary } = op;
  if (mode < 0 || !Buffer.isBuffer(key) || !Buffer.isBuffer(value) || !isNum(exptime)) return null;
  if (!isNum(flags) || !Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) return null;
  if ((compareCas !== undefined && !isU64(compareCas)) || (explicitCas !== undefined && !isU64(explicitCas))) return null;
  if ((invalidate !== undefined && typeof invalidate !== 'boolean') || (keyBinary !== undefined && typeof keyBinary !== 'boolean')) return null;
  const tag = m.tag;
  if (tag !== undefined && (!isWriteTag(tag) || Object.keys(tag).length !== 3)) return null;
  let bits = 0;
  if (tag !== undefined) bits |= OP_TAG;
  if (compareCas !== undefined) bits |= OP_COMPARE_CAS;
  if (explicitCas !== undefined) bits |= OP_EXPLICIT_CAS;
  if (invalidate !== undefined) bits |= OP_INVALIDATE | (invalidate ? OP_INVALIDATE_TRUE : 0);
  if (keyBinary !== undefined) bits |= OP_KEY_BINARY | (keyBinary ? OP_KEY_BINARY_TRUE : 0);
  const bytes = 4 + 1 + 8 * 3 + 2 + 4 + 8 + (compareCas !== undefined ? 8 : 0) + (explicitCas !== undefined ? 8 : 0) + 4 + key.length + 4 + value.length + (tag !== undefined ? 12 : 0);
  const out = Buffer.allocUnsafe(bytes);
  let at = 4;
  at = out.writeUInt8(KIND_STORE_OP, at);
  at = out.writeDoubleLE(m.id, at);
  at = out.writeDoubleLE(m.deadlineAtMs, at);
  at = out.writeDoubleLE(m.budgetMs, at);
  at = out.writeUInt8(mode, at);
  at = out.writeUInt8(bits, at);
  at = out.writeUInt32LE(flags, at);
  at = out.writeDoubleLE(exptime, at);
  if (compareCas !== undefined) at = out.writeBigUInt64LE(compareCas, at);
  if (explicitCas !== undefined) at = out.writeBigUInt64LE(explicitCas, at);
  at = out.writeUInt32LE(key.length, at);
  at += key.copy(out, at);
  at = out.writeUInt32LE(value.length, at);
  at += value.copy(out, at);
  if (tag !== undefined) {
    at = out.writeUInt32LE(tag.origin, at);
    at = out.writeUInt32LE(tag.session, at);
    out.writeUInt32LE(tag.seq, at);
  }
  return out;
}

function encodeStatusReply(m: Fields): Buffer | null {
  const result = m.result;
  if (!onlyFields(m, REPLY_FIELDS) || m.ok !== true || !isNum(m.id) || !isNum(m.index) || !isObject(result) || !onlyFields(result, RESULT_FIELDS)) return null;
  const status = STATUSES.indexOf(result.status as typeof STATUSES[number]);
  const { cas } = result;
  const { commitIndex, proposal } = m;
  if (status < 0 || (cas !== undefined && !isU64(cas))) return null;
  if ((commitIndex !== undefined && !isNum(commitIndex)) || (proposal !== undefined && !isNum(proposal))) return null;
  let bits = 0;
  if (cas !== undefined) bits |= REPLY_CAS;
  if (commitIndex !== undefined) bits |= REPLY_COMMIT_INDEX;
  if (proposal !== undefined) bits |= REPLY_PROPOSAL;
  const bytes = 4 + 1 + 8 + 2 + (cas !== undefined ? 8 : 0) + 8 + (commitIndex !== undefined ? 8 : 0) + (proposal !== undefined ? 8 : 0);
  const out = Buffer.allocUnsafe(bytes);
  let at = 4;
  at = out.writeUInt8(KIND_STATUS_REPLY, at);
  at = out.writeDoubleLE(m.id, at);
  at = out.writeUInt8(status, at);
  at = out.writeUInt8(bits, at);
  if (cas !== undefined) at = out.writeBigUInt64LE(cas, at);
  at = out.writeDoubleLE(m.index, at);
  if (commitIndex !== undefined) at = out.writeDoubleLE(commitIndex, at);
  if (proposal !== undefined) out.writeDoubleLE(proposal, at);
  return out;
}

/**
 * The message in a binary body; throws if it is malformed. Key and value are views of `body`
 * (the store copies what it keeps).
 */
export function decodeBinaryBody(body: Buffer): Record<string, unknown> {
  const r = new BodyReader(body);
  const kind = r.u8();
  const message = kind === KIND_STORE_OP ? decodeStoreOp(r) : kind === KIND_STATUS_REPLY ? decodeStatusReply(r) : null;
  if (message === null) throw new Error(`unknown binary peer frame kind ${kind}`);
  r.end();
  return message;
}

function decodeStoreOp(r: BodyReader): Record<string, unknown> {
  const id = r.f64();
  const deadlineAtMs = r.f64();
  const budgetMs = r.f64();
  const mode = MODES[r.u8()];
  if (mode === undefined) throw new Error('bad store mode in a binary peer frame');
  const bits = r.bits(OP_BITS);
  const op: StoreOp = { op: 'store', mode, key: Buffer.alloc(0), value: Buffer.alloc(0), flags: r.u32(), exptime: r.f64() };
  if (bits & OP_COMPARE_CAS) op.compareCas = r.u64();
  if (bits & OP_EXPLICIT_CAS) op.explicitCas = r.u64();
  if (bits & OP_INVALIDATE) op.invalidate = (bits & OP_INVALIDATE_TRUE) !== 0;
  else if (bits & OP_INVALIDATE_TRUE) throw new Error('bad field bits in a binary peer frame');
  if (bits & OP_KEY_BINARY) op.keyBinary = (bits & OP_KEY_BINARY_TRUE) !== 0;
  else if (bits & OP_KEY_BINARY_TRUE) throw new Error('bad field bits in a binary peer frame');
  op.key = r.bytes(r.u32());
  op.value = r.bytes(r.u32());
  const message: Record<string, unknown> = { t: 'op', id, op, deadlineAtMs, budgetMs };
  if (bits & OP_TAG) message.tag = { origin: r.u32(), session: r.u32(), seq: r.u32() };
  return message;
}

function decodeStatusReply(r: BodyReader): Record<string, unknown> {
  const id = r.f64();
  const status = STATUSES[r.u8()];
  if (status === undefined) throw new Error('bad status in a binary peer frame');
  const bits = r.bits(REPLY_BITS);
  const result: Record<string, unknown> = { status };
  if (bits & REPLY_CAS) result.cas = r.u64();
  const message: Record<string, unknown> = { t: 'reply', id, ok: true, result, index: r.f64() };
  if (bits & REPLY_COMMIT_INDEX) message.commitIndex = r.f64();
  if (bits & REPLY_PROPOSAL) message.proposal = r.f64();
  return message;
}

/** Bounds-checked reads over one body; every overrun throws. */
class BodyReader {
  private at = 0;

  constructor(private readonly body: Buffer) {}

  private take(n: number): number {
    const at = this.at;
    if (n > this.body.length - at) throw new Error('truncated binary peer frame');
    this.at = at + n;
    return at;
  }

  u8(): number {
    return this.body.readUInt8(this.take(1));
  }

  bits(allowed: number): number {
    const b = this.u8();
    if ((b & ~allowed) !== 0) throw new Error('unknown field bits in a binary peer frame');
    return b;
  }

  u32(): number {
    return this.body.readUInt32LE(this.take(4));
  }

  u64(): bigint {
    return this.body.readBigUInt64LE(this.take(8));
  }

  f64(): number {
    return this.body.readDoubleLE(this.take(8));
  }

  bytes(n: number): Buffer {
    const at = this.take(n);
    return this.body.subarray(at, at + n);
  }

  end(): void {
    if (this.at !== this.body.length) throw new Error(`${this.body.length - this.at} trailing bytes in a binary peer frame`);
  }
}
