/**
 * Memory layout of one Mu node: the registered regions, their fields and byte offsets.
 * All numbers are little-endian; indices and proposal numbers are float64 (exact up to 2^53).
 *
 * Region "log"  (LOG_HEADER_BYTES + slotCount * slotBytes). Write permission: exactly the peer this
 * node granted it to (the leader it follows); nobody while this node is leader or candidate (it then
 * writes its own log locally).
 *
 *   header, 128 bytes
 *     0  u32  magic: the log format, 'MuL2' (slots checked by slotChecksum); 'MuLg' was format 1,
 *             whose slots carried FNV-1a (mucached before the four-lane checksum)
 *     4  u32  slotCount
 *     8  u32  slotBytes
 *     16 f64  minProposal            prepare writes it (in the log, not the control region, so that the
 *                                    same permission that guards slots guards it: an old leader cannot
 *                                    lower it after a new leader prepared)
 *     24 f64  commit marker: index   "every index <= this is decided" ...
 *     32 f64  commit marker: proposal ... as told by the leader holding this proposal number
 *     40 u32  commit marker checksum over [24, 40)
 *     64 f64  sync marker: index     "a leader with this proposal brought this (restarted) node's log up
 *     72 f64  sync marker: proposal   to its own log end, this index": once applied that far, and told a
 *     80 u32  sync marker checksum    commit point of that proposal past it, the node's log is a
 *                                    trustworthy acceptor again (see ctl 'amnesic')
 *   slot k at LOG_HEADER_BYTES + k * slotBytes holds entry index i where k = (i - 1) % slotCount
 *     0  u32  checksum over [4, SLOT_HEADER_BYTES + length) (slotChecksum): a torn or partial slot never validates
 *     4  u32  payload length
 *     8  f64  proposal number under which the leader wrote it
 *     16 f64  entry index (1-based, absolute; tells a fresh slot from one of an older lap of the ring)
 *     24 f64  commit index piggybacked (the leader's commit point when it wrote the slot)
 *     32 u32  kind: 1 = application entry, 2 = no-op (fills a gap found by a new leader),
 *                   3 = part of an entry larger than one slot (below)
 *     40      payload
 *   An entry larger than one slot's payload takes k consecutive indices i..i+k-1 (k <= slotCount/2),
 *   one part per slot, each a kind-3 slot whose payload starts with a 24-byte part header:
 *     0  f64  entry start: index i of part 0     } the entry's identity: a leader writes one entry
 *     8  f64  proposal of the leader that made it } per index per term, and a new leader that adopts
 *                                                   a part keeps this header (it restamps only the slot)
 *     16 u32  part number (0..k-1)
 *     20 u32  part count k
 *   Each slot is decided on its own, as any slot. The application gets the entry, at index i+k-1, once
 *   every part is decided and all carry its identity in order. If a decided slot in i..i+k-1 holds
 *   anything else (a new leader filled a gap there, or adopted only some parts), the entry is
 *   abandoned: index i is consumed as a no-op and the remaining parts, orphans, likewise. Every node
 *   sees the same decided slots, so every node makes the same choice; a committed entry has all its
 *   parts decided, so it is never abandoned.
 *   A follower applies slot i only if it validates, carries index i, and a commit marker with the
 *   SAME proposal number says i is decided: a leader writes markers to a follower only for entries
 *   it wrote there itself, so an undecided leftover of an older leader is never applied.
 *
 * Region "ctl"  (CTL_BYTES). Written only by its owner; peers read it one-sided.
 *     0  u32  checksum over [4, 40)
 *     4  u32  incarnation (random per process start: a change means "restarted empty")
 *     8  f64  applied index (the leader never overwrites a slot a follower has not applied)
 *     16 f64  first undecided offset (FUO): first index this node does not know to be decided
 *     24 f64  write-permission holder of this node's log (0 = none; its own id while it leads, so
 *             peers know a sitting leader: older builds published 0 then)
 *     32 f64  status, one of:
 *             0  member.
 *             1  amnesic: this node may have forgotten what it accepted before a restart (it started
 *                empty after running in the group before, or into a group with history, and no
 *                leader has synced it since: node.ts); it neither
 *                leads nor counts in a prepare majority. Takes precedence over "leaving".
 *             2  leaving: the node resigned (planned stop, MuNode.resign): it stopped proposing and
 *                will exit. Peers that read this mark treat it as dead at once, without the
 *                detector's hysteresis, so the next lowest id stands immediately; it never leads
 *                again nor counts in a prepare majority (it may still grant its log to a leader).
 *                Permanent for the incarnation. (Older builds read only 1 as amnesic, so a mixed
 *                group during an upgrade sees a leaving node as a member until its heartbeat stops.)
 *     40 f64  heartbeat counter (bumped on an interval; peers score its progress). Outside the
 *             checksum on purpose: a torn read of it still differs from the last one only if the
 *             owner is writing, which is exactly "alive"; so the detector never waits on a clean read.
 *
 * Region "mbox-<p>" on node n (MBOX_BYTES), one per peer p: permanently writable by p alone, read
 * locally by n. It carries p's messages to n; p rewrites the whole box each time.
 *     0  u32  checksum over [4, MBOX_BYTES)
 *     8  f64  requestSeq: p asks n for write permission on n's log. The request stands until n grants
 *                         it and then revokes it (a retry resends the same number; 0 = none)
 *     16 f64  grantSeq:   p granted n permission on p's log, answering n's request with this number;
 *                         the number negated once p gave its log to someone else (older builds only
 *                         compare for equality, so they read a negated number as no grant)
 */
import { fnv1a32, slotChecksum } from './checksum';

export const LOG_REGION = 'log';
export const CTL_REGION = 'ctl';
export function mailboxRegion(fromPeer: number): string {
  return `mbox-${fromPeer}`;
}

const LOG_MAGIC = 0x324c754d; // 'MuL2'
const LEGACY_LOG_MAGIC = 0x674c754d; // 'MuLg'
export const LOG_HEADER_BYTES = 128;
export const H_MIN_PROPOSAL = 16;
export const H_COMMIT_MARKER = 24;
export const COMMIT_MARKER_BYTES = 20;
export const H_SYNC_MARKER = 64;

export const SLOT_HEADER_BYTES = 40;
export const SLOT_KIND_ENTRY = 1;
export const SLOT_KIND_NOOP = 2;
export const SLOT_KIND_PART = 3;
export const PART_HEADER_BYTES = 24;

export const CTL_BYTES = 48;
export const MBOX_BYTES = 24;

export function logRegionBytes(slotCount: number, slotBytes: number): number {
  return LOG_HEADER_BYTES + slotCount * slotBytes;
}

export function slotOffset(index: number, slotCount: number, slotBytes: number): number {
  return LOG_HEADER_BYTES + ((index - 1) % slotCount) * slotBytes;
}

export function initLogHeader(log: Buffer, slotCount: number, slotBytes: number): void {
  log.writeUInt32LE(LOG_MAGIC, 0);
  log.writeUInt32LE(slotCount, 4);
  log.writeUInt32LE(slotBytes, 8);
}

/** Bytes of the log header that say its format and geometry (magic, slotCount, slotBytes). */
export const LOG_FORMAT_BYTES = 12;

/**
 * Why a peer's log (its first LOG_FORMAT_BYTES in `header`) cannot be replicated with ours, or null
 * if it can: another format (another mucached version) or another ring geometry.
 */
export function logFormatMismatch(header: Buffer, slotCount: number, slotBytes: number): string | null {
  const magic = header.readUInt32LE(0);
  if (magic !== LOG_MAGIC) {
    const theirs = magic === LEGACY_LOG_MAGIC ? "format 1 ('MuLg', an older mucached)" : `an unknown format (magic 0x${magic.toString(16)})`;
    return `its log is in ${theirs}, ours in format 2 ('MuL2'): every member must run the same log format; restart the whole cluster on one version`;
  }
  if (header.readUInt32LE(4) !== slotCount || header.readUInt32LE(8) !== slotBytes) {
    return `its log has ${header.readUInt32LE(4)} slots of ${header.readUInt32LE(8)} bytes, ours ${slotCount} of ${slotBytes}: every member needs the same slotCount and slotBytes`;
  }
  return null;
}

/**
 * The slot at `offset` of `log` claims `index` and is whole under format 1's checksum (FNV-1a), not
 * ours: a leader running an older mucached wrote it.
 */
export function isFormat1Slot(log: Buffer, view: DataView, offset: number, slotBytes: number, index: number): boolean {
  const len = view.getUint32(offset + 4, true);
  if (!slotHeaderFits(len, view.getUint32(offset + 32, true), slotBytes) || view.getFloat64(offset + 16, true) !== index) return false;
  return view.getUint32(offset, true) === fnv1a32(log, offset + 4, offset + SLOT_HEADER_BYTES + len);
}

export function readMinProposal(log: Buffer): number {
  return log.readDoubleLE(H_MIN_PROPOSAL);
}

export function encodeMinProposal(proposal: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(proposal, 0);
  return b;
}

export interface CommitMarker {
  commitIndex: number;
  proposal: number;
}

/** Bytes to write at H_COMMIT_MARKER of a follower's log. */
export function encodeCommitMarker(m: CommitMarker): Buffer {
  const b = Buffer.alloc(COMMIT_MARKER_BYTES);
  b.writeDoubleLE(m.commitIndex, 0);
  b.writeDoubleLE(m.proposal, 8);
  b.writeUInt32LE(fnv1a32(b, 0, 16), 16);
  return b;
}

/** Private copy of a marker being read: see readCommitMarker. */
const markerScratch = Buffer.alloc(COMMIT_MARKER_BYTES);

/**
 * A commit marker (or, at H_SYNC_MARKER, a sync marker: same format) if intact. The leader rewrites
 * markers one-sided while we read them, so the bytes are copied first and only the copy is checked and
 * decoded (checking the live bytes, then reading them, could pair a valid check with a torn number).
 */
export function readCommitMarker(log: Buffer, o = H_COMMIT_MARKER): CommitMarker | null {
  log.copy(markerScratch, 0, o, o + COMMIT_MARKER_BYTES);
  const m = markerScratch;
  if (m.readUInt32LE(16) !== fnv1a32(m, 0, 16)) return null;
  return { commitIndex: m.readDoubleLE(0), proposal: m.readDoubleLE(8) };
}

export interface SlotView {
  proposal: number;
  index: number;
  commitIndex: number;
  kind: number;
  /** Offset of the payload inside the buffer the slot was read from. */
  payloadOffset: number;
  length: number;
}

/**
 * A DataView over all of `buf`. Its number reads and writes cost a few ns where Buffer's
 * readDoubleLE and kin cost 10-15: the per-entry paths (leader, pump) keep one per buffer and pass it.
 */
export function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Writes a complete slot at `offset`; returns the number of meaningful bytes (header + payload).
 * `view`: viewOf(buf), if the caller keeps one.
 */
export function writeSlot(
  buf: Buffer,
  offset: number,
  slot: { proposal: number; index: number; commitIndex: number; kind: number; payload: Buffer },
  view: DataView = viewOf(buf),
): number {
  slot.payload.copy(buf, offset + SLOT_HEADER_BYTES);
  return sealSlot(buf, view, offset, slot.proposal, slot.index, slot.commitIndex, slot.kind, slot.payload.length);
}

/**
 * Writes the header of the slot at `offset` whose `length` payload bytes are already in place, then
 * its checksum last: every way of writing a slot ends here.
 */
function sealSlot(buf: Buffer, view: DataView, offset: number, proposal: number, index: number, commitIndex: number, kind: number, length: number): number {
  view.setUint32(offset + 4, length, true);
  view.setFloat64(offset + 8, proposal, true);
  view.setFloat64(offset + 16, index, true);
  view.setFloat64(offset + 24, commitIndex, true);
  view.setUint32(offset + 32, kind, true);
  view.setUint32(offset + 36, 0, true);
  view.setUint32(offset, slotChecksum(view, offset + 4, offset + SLOT_HEADER_BYTES + length), true);
  return SLOT_HEADER_BYTES + length;
}

/**
 * A slot header's length and kind are possible (what readSlot asks before the checksum): the
 * length fits the slot, the kind is known, and a part carries at least its part header.
 */
export function slotHeaderFits(length: number, kind: number, slotBytes: number): boolean {
  if (length > slotBytes - SLOT_HEADER_BYTES) return false;
  return kind === SLOT_KIND_ENTRY || kind === SLOT_KIND_NOOP || (kind === SLOT_KIND_PART && length >= PART_HEADER_BYTES);
}

/** Identity and place of one part of a multi-slot entry (see the layout above). */
export interface PartHeader {
  entryStart: number;
  entryProposal: number;
  partNo: number;
  partCount: number;
}

/** Payload bytes one part carries. */
export function partChunkBytes(slotBytes: number): number {
  return slotBytes - SLOT_HEADER_BYTES - PART_HEADER_BYTES;
}

/** Slots an entry of `payloadBytes` takes: 1 if it fits one slot whole, else its part count. */
export function slotsForEntry(payloadBytes: number, slotBytes: number): number {
  if (payloadBytes <= slotBytes - SLOT_HEADER_BYTES) return 1;
  return Math.ceil(payloadBytes / partChunkBytes(slotBytes));
}

/** Largest entry a ring takes: half the ring in parts, so entries never need the whole ring free. */
export function maxEntryBytes(slotCount: number, slotBytes: number): number {
  const single = slotBytes - SLOT_HEADER_BYTES;
  const maxParts = Math.floor(slotCount / 2);
  if (maxParts < 2 || partChunkBytes(slotBytes) < 1) return single;
  return Math.max(single, maxParts * partChunkBytes(slotBytes));
}

/** The fewest slots of `slotBytes` whose ring takes an entry of `entryBytes` (the inverse of maxEntryBytes). */
export function slotCountFor(entryBytes: number, slotBytes: number): number {
  return Math.max(2, 2 * slotsForEntry(entryBytes, slotBytes));
}

/**
 * Writes part `part.partNo` of an entry (its `chunk` of the payload) as a complete slot.
 * `view`: viewOf(buf), if the caller keeps one.
 */
export function writePartSlot(
  buf: Buffer,
  offset: number,
  slot: { proposal: number; index: number; commitIndex: number; part: PartHeader; chunk: Buffer },
  view: DataView = viewOf(buf),
): number {
  const p = offset + SLOT_HEADER_BYTES;
  view.setFloat64(p, slot.part.entryStart, true);
  view.setFloat64(p + 8, slot.part.entryProposal, true);
  view.setUint32(p + 16, slot.part.partNo, true);
  view.setUint32(p + 20, slot.part.partCount, true);
  slot.chunk.copy(buf, p + PART_HEADER_BYTES);
  return sealSlot(buf, view, offset, slot.proposal, slot.index, slot.commitIndex, SLOT_KIND_PART, PART_HEADER_BYTES + slot.chunk.length);
}

/** The part header of a kind-3 slot whose payload starts at `payloadOffset` of `buf`. */
export function readPartHeader(buf: Buffer, payloadOffset: number): PartHeader {
  return {
    entryStart: buf.readDoubleLE(payloadOffset),
    entryProposal: buf.readDoubleLE(payloadOffset + 8),
    partNo: buf.readUInt32LE(payloadOffset + 16),
    partCount: buf.readUInt32LE(payloadOffset + 20),
  };
}

/**
 * The slot at `offset` if it is complete and intact, else null (never written, torn, or corrupt).
 * `trusted`: bytes this thread wrote itself; the checksum is not recomputed.
 * `buf` must not change during the call: the checksum is checked before the header fields are read,
 * so on memory that peers write one-sided (a follower's own log) a write landing mid-call yields a
 * view mixing two slots. Read such memory through copySlot.
 */
export function readSlot(buf: Buffer, offset: number, slotBytes: number, trusted = false, view: DataView = viewOf(buf)): SlotView | null {
  const len = view.getUint32(offset + 4, true);
  const kind = view.getUint32(offset + 32, true);
  if (!slotHeaderFits(len, kind, slotBytes)) return null;
  if (!trusted && view.getUint32(offset, true) !== slotChecksum(view, offset + 4, offset + SLOT_HEADER_BYTES + len)) return null;
  return {
    proposal: view.getFloat64(offset + 8, true),
    index: view.getFloat64(offset + 16, true),
    commitIndex: view.getFloat64(offset + 24, true),
    kind,
    payloadOffset: offset + SLOT_HEADER_BYTES,
    length: len,
  };
}

/**
 * Copies the slot at `offset` of `live` (memory peers may write into while we read) into `into` at 0
 * and returns the view of the copy if the copy is complete and intact, else null. Only the copy is
 * validated and interpreted, so every field and payload byte of the view comes from one write, whatever
 * lands in `live` meanwhile. `into` holds at least slotBytes.
 */
export function copySlot(
  live: Buffer, offset: number, slotBytes: number, into: Buffer, liveView: DataView = viewOf(live), intoView: DataView = viewOf(into),
): SlotView | null {
  const len = liveView.getUint32(offset + 4, true);
  if (len > slotBytes - SLOT_HEADER_BYTES) return null;
  live.copy(into, 0, offset, offset + SLOT_HEADER_BYTES + len);
  // The length may have changed between the read above and the copy: the copy must hold all of itself.
  if (intoView.getUint32(4, true) !== len) return null;
  return readSlot(into, 0, slotBytes, false, intoView);
}

export interface ControlWords {
  incarnation: number;
  heartbeat: number;
  appliedIndex: number;
  firstUndecided: number;
  permissionHolder: number;
  amnesic: boolean;
  /** Resigned (status 2); never set together with amnesic on the wire (amnesic wins). */
  leaving: boolean;
}

const STATUS_AMNESIC = 1;
const STATUS_LEAVING = 2;

const CTL_HEARTBEAT = 40;

export function writeControl(ctl: Buffer, w: ControlWords): void {
  ctl.writeUInt32LE(w.incarnation >>> 0, 4);
  ctl.writeDoubleLE(w.appliedIndex, 8);
  ctl.writeDoubleLE(w.firstUndecided, 16);
  ctl.writeDoubleLE(w.permissionHolder, 24);
  ctl.writeDoubleLE(w.amnesic ? STATUS_AMNESIC : w.leaving ? STATUS_LEAVING : 0, 32);
  ctl.writeUInt32LE(fnv1a32(ctl, 4, CTL_HEARTBEAT), 0);
  ctl.writeDoubleLE(w.heartbeat, CTL_HEARTBEAT);
}

/** Only the heartbeat changed: the checksummed words stay as they are. */
export function writeHeartbeat(ctl: Buffer, heartbeat: number): void {
  ctl.writeDoubleLE(heartbeat, CTL_HEARTBEAT);
}

/** The heartbeat word as read, torn or not (see the layout above). */
export function readHeartbeat(buf: Buffer): number {
  return buf.readDoubleLE(CTL_HEARTBEAT);
}

/** The checksummed control words, or null if the read caught them mid-update. */
export function readControl(buf: Buffer): ControlWords | null {
  if (buf.readUInt32LE(0) !== fnv1a32(buf, 4, CTL_HEARTBEAT)) return null;
  return {
    incarnation: buf.readUInt32LE(4),
    appliedIndex: buf.readDoubleLE(8),
    firstUndecided: buf.readDoubleLE(16),
    permissionHolder: buf.readDoubleLE(24),
    amnesic: buf.readDoubleLE(32) === STATUS_AMNESIC,
    leaving: buf.readDoubleLE(32) === STATUS_LEAVING,
    heartbeat: buf.readDoubleLE(CTL_HEARTBEAT),
  };
}

export interface MailboxWords {
  requestSeq: number;
  grantSeq: number;
}

export function encodeMailbox(m: MailboxWords): Buffer {
  const b = Buffer.alloc(MBOX_BYTES);
  b.writeDoubleLE(m.requestSeq, 8);
  b.writeDoubleLE(m.grantSeq, 16);
  b.writeUInt32LE(fnv1a32(b, 4, MBOX_BYTES), 0);
  return b;
}

/** Private copy of a mailbox being read: the peer rewrites it one-sided (see readCommitMarker). */
const mailboxScratch = Buffer.alloc(MBOX_BYTES);

export function readMailbox(box: Buffer): MailboxWords | null {
  box.copy(mailboxScratch, 0, 0, MBOX_BYTES);
  const b = mailboxScratch;
  if (b.readUInt32LE(0) !== fnv1a32(b, 4, MBOX_BYTES)) return null;
  return { requestSeq: b.readDoubleLE(8), grantSeq: b.readDoubleLE(16) };
}

/** Proposal numbers are unique per node: round * 256 + nodeId (node ids are 1..255). */
export function proposalFor(round: number, nodeId: number): number {
  return round * 256 + nodeId;
}

/** The node that made a proposal number. */
export function proposerOf(proposal: number): number {
  return proposal % 256;
}

export function roundOf(proposal: number): number {
  return Math.floor(proposal / 256);
}
