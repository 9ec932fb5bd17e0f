/**
 * Runs a differential script against reference servers (real memcached) and a subject server
 * (mucached), step by step, all at once, and stops at the first step where the subject differs
 * from every reference still in the run.
 *
 * Why more than one reference: memcached 1.6.18 is not deterministic everywhere. Its incr/decr of
 * a stored number >= 2^63 checks for a minus sign with strchr(), which runs past the value into
 * whatever the slab holds next (stale items, pointers that ASLR moves), so the same script
 * sometimes answers "non-numeric" there. When the references disagree among themselves at a
 * step, the ones the subject disagrees with have diverged from the script's intended state: they
 * are dropped (and reported in `droppedReferences`), and the run goes on against the others. The
 * subject never gets a pass from a disagreement it alone has.
 *
 * Reading: after each batch the runner sends a sentinel (text `mn`, binary noop with a unique
 * opaque) and reads until the reply stream parses completely and ends with the sentinel's reply,
 * the server closes the connection, or the step times out.
 */
import * as fs from 'fs';
import { encodeRequest, Op, opName } from './binpkt';
import {
  CasNames, compareFrame, describeFrame, newCasNames, NormFrame, normalizeBinary, normalizeText,
} from './diffCompare';
import type { Step } from './diffGen';
import { escapeBytes } from './escape';
import { binaryEndsWithNoop, parseBinaryFrames, parseTextFrames, textEndsWith } from './replyFrames';
import { WireConn } from './wireConn';

export interface Endpoint {
  name: string;
  port: number;
}

interface Side {
  ep: Endpoint;
  conns: Array<WireConn | undefined>;
  casBook: Map<string, bigint>;
  casNames: CasNames;
}

interface StepReply {
  bytes: Buffer;
  sent: Buffer;
  closed: boolean;
  timedOut: boolean;
  frames: NormFrame[];
}

export interface DiffOptions {
  seed: number;
  stepTimeoutMs: number;
  strictCas: boolean;
  /** Stop (and report) when this wall-clock deadline passes; the run is then incomplete. */
  deadlineMs: number;
  /** If set, every step (sent bytes, both replies) is appended to this file, for debugging. */
  traceFile?: string;
}

export interface DiffOutcome {
  stepsRun: number;
  commandsRun: number;
  framesCompared: number;
  /** Undefined when every step agreed. */
  mismatch?: string;
  /** One line per reference dropped because it disagreed with another reference. */
  droppedReferences: string[];
  incomplete?: string;
}

const TEXT_SENTINEL = Buffer.from('mn\r\n');
const TEXT_SENTINEL_REPLY = 'MN\r\n';
const SENTINEL_OPAQUE_BASE = 0xf0000000;

function cut(bytes: Buffer, fractions: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (const f of fractions) {
    const at = Math.floor(f * bytes.length);
    if (at > start) { pieces.push(bytes.subarray(start, at)); start = at; }
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

function learnCas(side: Side, step: Step, bytes: Buffer): void {
  if (step.proto === 'text') {
    for (const f of parseTextFrames(bytes).frames) {
      const line = (f.kind === 'line' ? f.raw : f.header).toString('latin1').replace(/\r?\n$/, '');
      const t = line.split(' ');
      if (t[0] === 'VALUE' && t.length === 5) side.casBook.set(t[1], BigInt(t[4]));
      if (['VA', 'HD', 'EX', 'NS'].includes(t[0])) {
        const k = t.find((x) => x.startsWith('k'));
        const c = t.find((x) => /^c[0-9]+$/.test(x));
        if (k && c) {
          const key = t.includes('b') ? Buffer.from(k.slice(1), 'base64').toString('latin1') : k.slice(1);
          side.casBook.set(key, BigInt(c.slice(1)));
        }
      }
    }
    return;
  }
  const keys = new Map<number, string>();
  for (const c of step.cmds) for (const [o, k] of c.opaqueKeys ?? []) keys.set(o, k);
  for (const p of parseBinaryFrames(bytes).packets) {
    const k = keys.get(p.opaque);
    if (k !== undefined && p.cas !== 0n && p.status === 0) side.casBook.set(k, p.cas);
  }
}

async function runStep(side: Side, step: Step, opts: DiffOptions): Promise<StepReply> {
  let conn = side.conns[step.conn];
  if (!conn || conn.closed) {
    conn = await WireConn.open(side.ep.port);
    side.conns[step.conn] = conn;
  }
  const book = { get: (k: string) => side.casBook.get(k) };
  const opaque = (SENTINEL_OPAQUE_BASE + step.index) >>> 0;
  const sentinel = step.proto === 'text' ? TEXT_SENTINEL : encodeRequest({ opcode: Op.noop, opaque });
  const sent = Buffer.concat([...step.cmds.map((c) => c.build(book)), sentinel]);
  const c = conn;
  await c.write(cut(sent, step.cuts));
  const done = step.proto === 'text'
    ? (b: Buffer) => textEndsWith(b, TEXT_SENTINEL_REPLY, 1 + step.cmds.reduce((n, cmd) => n + (cmd.mnReplies ?? 0), 0))
    : (b: Buffer) => binaryEndsWithNoop(b, opaque);
  const r = await c.readUntil(done, opts.stepTimeoutMs);
  c.take(r.bytes.length);
  if (r.timedOut) { c.destroy(); side.conns[step.conn] = undefined; }
  let frames: NormFrame[];
  if (step.proto === 'text') {
    const p = parseTextFrames(r.bytes);
    frames = normalizeText(r.closed || r.timedOut ? p.frames : p.frames.slice(0, -1), side.casNames);
  } else {
    const p = parseBinaryFrames(r.bytes);
    frames = normalizeBinary(r.closed || r.timedOut ? p.packets : p.packets.slice(0, -1), side.casNames);
  }
  learnCas(side, step, r.bytes);
  return { bytes: r.bytes, sent, closed: r.closed, timedOut: r.timedOut, frames };
}

/** One line per binary request: opcode, opaque, key, sizes (the raw bytes are hard to read). */
function binarySummary(sent: Buffer): string {
  const lines: string[] = [];
  for (let pos = 0; pos + 24 <= sent.length && lines.length < 40;) {
    const keyLen = sent.readUInt16BE(pos + 2);
    const extLen = sent[pos + 4];
    const bodyLen = sent.readUInt32BE(pos + 8);
    const key = sent.subarray(pos + 24 + extLen, pos + 24 + extLen + keyLen);
    lines.push(`  ${opName[sent[pos + 1]] ?? '0x' + sent[pos + 1].toString(16)} opaque=${sent.readUInt32BE(pos + 12)} ` +
      `cas=${sent.readBigUInt64BE(pos + 16)} key=${escapeBytes(key, 40)} extras=${sent.subarray(pos + 24, pos + 24 + extLen).toString('hex')} ` +
      `value=${escapeBytes(sent.subarray(pos + 24 + extLen + keyLen, pos + 24 + bodyLen), 40)}`);
    pos += 24 + bodyLen;
  }
  return lines.join('\n');
}

function explain(step: Step, ref: StepReply, sub: StepReply, why: string, at: number, opts: DiffOptions, refName: string, subName: string): string {
  return [
    `DIFFERENTIAL MISMATCH (replay: DIFF_SEED=${opts.seed}) at step ${step.index} (${step.what}), connection ${step.conn} (${step.proto}), ${step.cmds.length} command(s)`,
    `why: ${why}${at >= 0 ? ` (reply frame ${at})` : ''}`,
    `sent to ${subName}: ${escapeBytes(sub.sent, 1500)}`,
    step.proto === 'binary' ? `requests:\n${binarySummary(sub.sent)}` : '',
    `${refName} replied${ref.closed ? ' and closed' : ''}${ref.timedOut ? ' (timed out)' : ''}: ${escapeBytes(ref.bytes, 1500)}`,
    `${subName} replied${sub.closed ? ' and closed' : ''}${sub.timedOut ? ' (timed out)' : ''}: ${escapeBytes(sub.bytes, 1500)}`,
    at >= 0 ? `frame ${at}: ${refName}: ${describeFrame(ref.frames[at])}\n         ${subName}: ${describeFrame(sub.frames[at])}` : '',
  ].join('\n');
}

function compareStep(ref: StepReply, sub: StepReply): { why: string; at: number } | undefined {
  if (ref.timedOut) return { why: 'reference server timed out (generator bug?)', at: -1 };
  if (sub.timedOut) return { why: 'subject did not answer up to the sentinel in time', at: -1 };
  const n = Math.max(ref.frames.length, sub.frames.length);
  for (let i = 0; i < n; i++) {
    const a = ref.frames[i];
    const b = sub.frames[i];
    if (!a || !b) return { why: `${a ? 'subject' : 'reference'} has fewer reply frames`, at: i };
    const why = compareFrame(a, b);
    if (why) return { why, at: i };
  }
  if (ref.closed !== sub.closed) return { why: `connection ${ref.closed ? 'closed only by reference' : 'closed only by subject'}`, at: -1 };
  return undefined;
}

function traceStep(file: string, step: Step, sent: Buffer, names: string[], replies: StepReply[]): void {
  fs.appendFileSync(file, `--- step ${step.index} conn ${step.conn} ${step.what}\n> ${escapeBytes(sent, 1 << 20)}\n` +
    (step.proto === 'binary' ? binarySummary(sent) + '\n' : '') +
    replies.map((r, i) => `< ${names[i]}: ${escapeBytes(r.bytes, 4000)}\n`).join(''));
}

export async function runDifferential(steps: Step[], references: Endpoint[], subject: Endpoint, opts: DiffOptions): Promise<DiffOutcome> {
  if (references.length === 0) throw new Error('runDifferential needs at least one reference server');
  const mk = (ep: Endpoint): Side => ({ ep, conns: [], casBook: new Map(), casNames: newCasNames(opts.strictCas) });
  let refs = references.map(mk);
  const sub = mk(subject);
  const all = [...refs, sub];
  const outcome: DiffOutcome = { stepsRun: 0, commandsRun: 0, framesCompared: 0, droppedReferences: [] };
  try {
    for (const step of steps) {
      if (Date.now() > opts.deadlineMs) {
        outcome.incomplete = `stopped at step ${step.index}/${steps.length}: time budget used`;
        break;
      }
      const replies = await Promise.all([...refs, sub].map((side) => runStep(side, step, opts)));
      const subReply = replies[replies.length - 1];
      const refReplies = replies.slice(0, -1);
      if (opts.traceFile) traceStep(opts.traceFile, step, subReply.sent, [...refs, sub].map((s) => s.ep.name), replies);
      const diffs = refReplies.map((r) => compareStep(r, subReply));
      const agreeing = refs.filter((_, i) => diffs[i] === undefined);
      if (agreeing.length === 0) {
        const d = diffs[0]!;
        outcome.mismatch = explain(step, refReplies[0], subReply, d.why, d.at, opts, refs[0].ep.name, subject.name);
        break;
      }
      refs.forEach((side, i) => {
        const d = diffs[i];
        if (d === undefined) return;
        const frame = d.at >= 0 ? `: ${describeFrame(refReplies[i].frames[d.at])} where ${agreeing[0].ep.name} and ` +
          `${subject.name} gave ${describeFrame(subReply.frames[d.at])}` : '';
        outcome.droppedReferences.push(`${side.ep.name} dropped at step ${step.index} (${d.why}${frame})`);
        for (const c of side.conns) c?.destroy();
      });
      refs = agreeing;
      outcome.stepsRun++;
      outcome.commandsRun += step.cmds.length;
      outcome.framesCompared += subReply.frames.length;
    }
  } finally {
    for (const side of all) for (const c of side.conns) c?.destroy();
  }
  return outcome;
}
