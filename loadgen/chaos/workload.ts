/**
 * The chaos clients: each loops over set, cas (a gets then a cas with its unique), incr, delete and
 * get on a small key space, over its own raw text connection to one node, recording every
 * operation's invoke and return times. Values are unique (multiples of a million, so an incr chain
 * never reaches another write's value). A request that times out, loses its connection or gets a
 * server error has an unknown outcome; the client then moves to the next node. Gets are recorded
 * as weak reads (a follower serves them from its own, possibly lagging, state) unless the daemons
 * run with --reads linearizable (`strongReads`): then they are held to linearizability too.
 */
import { performance } from 'perf_hooks';
import type { Endpoint } from './chaos-cluster';
import { Op, OpKind } from './history';
import { RequestFailed, TextConnection } from './text-client';
import { bigValue, parseRecordedValue } from './big-values';
import { Rng } from '../rng';

export interface WorkloadOptions {
  clients: number;
  keys: number;
  requestTimeoutMs: number;
  /** Bound on operations per client, in case the run's stop never comes. */
  maxOpsPerClient: number;
  /** Size of the big values (0 or absent: none), written by this share (percent) of sets and cas. */
  bigValueBytes?: number;
  bigValuePercent?: number;
  /** The daemons run with --reads linearizable: gets are checked like every other operation. */
  strongReads?: boolean;
}

export interface Recorder {
  ops: Op[];
  t0: number;
  nextId: number;
  nextValue: number;
}

export const nowMs = (rec: Recorder): number => performance.now() - rec.t0;

const MIX: Array<[OpKind, number]> = [['set', 35], ['cas', 20], ['incr', 15], ['get', 25], ['delete', 5]];

function pickKind(rng: Rng): OpKind {
  let r = rng.below(100);
  for (const [k, w] of MIX) { if (r < w) return k; r -= w; }
  return 'get';
}

const CAS_REPLIES = ['STORED', 'EXISTS', 'NOT_FOUND'];
const DELETE_REPLIES = ['DELETED', 'NOT_FOUND'];

/**
 * Reply line -> recorded result; undefined means an error reply of unknown effect. Fixed replies
 * are recorded as the shared constants, not as a new string per operation: a 10-minute run records
 * millions of operations, and the history has to fit in the heap.
 */
function resultOf(kind: OpKind, reply: string): string | null | undefined {
  const line = reply.replace(/\r\n$/, '');
  if (kind === 'set') return line === 'STORED' ? 'STORED' : undefined;
  if (kind === 'cas') return CAS_REPLIES.find((r) => r === line);
  if (kind === 'delete') return DELETE_REPLIES.find((r) => r === line);
  if (kind === 'incr') {
    if (line === 'NOT_FOUND') return null;
    if (/^\d+$/.test(line)) return line;
    if (line.startsWith('CLIENT_ERROR')) return 'NON_NUMERIC';
    return undefined;
  }
  return undefined;
}

export async function runClient(client: number, nodes: Endpoint[], rng: Rng, rec: Recorder, o: WorkloadOptions, stopped: () => boolean): Promise<void> {
  let nodeIndex = client % nodes.length;
  let conn: TextConnection | null = null;
  // One string each, shared by every operation that names it (see resultOf).
  const keys = Array.from({ length: o.keys }, (_, k) => `chaos${k}`);
  const nodeNotes = nodes.map((_, n) => `node ${n + 1}`);
  const weakReads = o.strongReads !== true;
  const casNotes = nodeNotes.map((n) => `gets for cas; ${n}`);
  /**
   * Records `op` as it ended. Built as one literal with every field in one order, so all recorded
   * operations share a hidden class: copies by spread got one each (a heap snapshot showed two
   * shapes per operation, about 300 of its 530 bytes, and a 10-minute run ran out of heap).
   */
  const record = (op: Op, returnMs: number, result: string | null | undefined, note: string | undefined): void => {
    rec.ops.push({
      id: op.id, client: op.client, key: op.key, kind: op.kind, invokeMs: op.invokeMs, returnMs, value: op.value, expected: op.expected,
      result, weak: op.weak, note,
    });
  };
  /** A new unique value: the text to send, and the form the history keeps. */
  const newValue = (): { text: string; recorded: string } => {
    const unique = String(1_000_000 * rec.nextValue++);
    const big = (o.bigValueBytes ?? 0) > 0 && rng.below(100) < (o.bigValuePercent ?? 25);
    return big ? bigValue(unique, o.bigValueBytes!) : { text: unique, recorded: unique };
  };
  const connect = async (): Promise<TextConnection | null> => {
    try {
      return await TextConnection.open(nodes[nodeIndex].port, o.requestTimeoutMs, nodes[nodeIndex].host);
    } catch {
      nodeIndex = (nodeIndex + 1) % nodes.length;
      await new Promise((r) => setTimeout(r, 20));
      return null;
    }
  };
  /** One exchange; on failure the op (if sent) is recorded as unknown and the node changes. */
  const exchange = async (op: Op, text: string, multiLine: boolean): Promise<string | null> => {
    try {
      return await conn!.request(text, multiLine, o.requestTimeoutMs);
    } catch (e) {
      if (e instanceof RequestFailed && e.sent) record(op, Infinity, op.result, `${op.note}; ${e.message}`);
      conn?.close();
      conn = null;
      nodeIndex = (nodeIndex + 1) % nodes.length;
      return null;
    }
  };
  for (let i = 0; i < o.maxOpsPerClient && !stopped(); i++) {
    if (conn === null || !conn.usable) { conn = await connect(); if (conn === null) continue; }
    const key = keys[rng.below(o.keys)];
    let kind = pickKind(rng);
    const note = nodeNotes[nodeIndex];
    if (kind === 'cas') {
      const gets: Op = { id: rec.nextId++, client, key, kind: 'get', invokeMs: nowMs(rec), returnMs: Infinity, weak: weakReads, note: casNotes[nodeIndex] };
      const reply = await exchange(gets, `gets ${key}\r\n`, true);
      if (reply === null) continue;
      let seen: { value: string; cas: string | null } | null;
      try { seen = parseRecordedValue(reply); } catch { record(gets, Infinity, gets.result, `${gets.note}; ${reply.trim()}`); continue; }
      record(gets, nowMs(rec), seen?.value ?? null, gets.note);
      if (seen === null || seen.cas === null) continue;
      const value = newValue();
      const op: Op = { id: rec.nextId++, client, key, kind, invokeMs: nowMs(rec), returnMs: Infinity, value: value.recorded, expected: seen.value, note };
      const r = await exchange(op, `cas ${key} 0 0 ${value.text.length} ${seen.cas}\r\n${value.text}\r\n`, false);
      if (r !== null) { const res = resultOf(kind, r); record(op, res === undefined ? Infinity : nowMs(rec), res, op.note); }
      continue;
    }
    if (kind === 'get') {
      const op: Op = { id: rec.nextId++, client, key, kind, invokeMs: nowMs(rec), returnMs: Infinity, weak: weakReads, note };
      const r = await exchange(op, `get ${key}\r\n`, true);
      if (r === null) continue;
      let value: string | null;
      try { value = parseRecordedValue(r)?.value ?? null; } catch { record(op, op.returnMs, op.result, `${note}; ${r.trim()}`); continue; }
      record(op, nowMs(rec), value, op.note);
      continue;
    }
    const op: Op = { id: rec.nextId++, client, key, kind, invokeMs: 0, returnMs: Infinity, note };
    let text: string;
    if (kind === 'set') { const v = newValue(); op.value = v.recorded; text = `set ${key} 0 0 ${v.text.length}\r\n${v.text}\r\n`; }
    else if (kind === 'incr') { op.value = String(1 + rng.below(9)); text = `incr ${key} ${op.value}\r\n`; }
    else { kind = 'delete'; text = `delete ${key}\r\n`; }
    op.invokeMs = nowMs(rec);
    const r = await exchange(op, text, false);
    if (r === null) continue;
    const res = resultOf(kind, r);
    record(op, res === undefined ? Infinity : nowMs(rec), res, res === undefined ? `${note}; ${r.trim()}` : note);
  }
  conn?.close();
}
