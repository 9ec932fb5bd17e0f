/**
 * Turns one batch's reply bytes into comparable frames and compares two servers' frames.
 *
 * Byte-identical except where a difference is legitimate:
 * - stats values (names are compared: the subject may omit memcached internals but not invent
 *   names; general stats must carry the core counters), the version string;
 * - CAS uniques are compared up to renaming: each server's uniques are mapped, in order of first
 *   appearance, to cas#0, cas#1, ... (strict mode compares the numbers themselves);
 * - remaining TTL (meta t, me exp) and seconds since access (meta l, me la) within 2 s, because
 *   memcached's clock ticks once a second from its own start; me's slab class and item size;
 * - meta h / me fetch (fetched before): memcached sets that bit from its asynchronous LRU bump,
 *   so memcached itself answers h0 or h1 for the same sequence.
 */
import { BinResponse } from './binpkt';
import { parseBinaryFrames, parseTextFrames, TextFrame } from './replyFrames';

export interface CasNames {
  strict: boolean;
  ids: Map<bigint, number>;
}

export function newCasNames(strict: boolean): CasNames {
  return { strict, ids: new Map() };
}

function casName(names: CasNames, cas: bigint): string {
  if (names.strict || cas === 0n) return String(cas);
  let id = names.ids.get(cas);
  if (id === undefined) {
    id = names.ids.size;
    names.ids.set(cas, id);
  }
  return `cas#${id}`;
}

/** A frame reduced to exact text plus numbers compared with a tolerance, or a stats block. */
export type NormFrame =
  | { kind: 'exact'; text: string; fuzzy: number[] }
  | { kind: 'stats'; names: string[]; shapeOk: boolean; raw: string };

const CORE_STATS = ['pid', 'uptime', 'time', 'version', 'curr_connections', 'total_connections', 'cmd_get', 'cmd_set',
  'get_hits', 'get_misses', 'curr_items', 'total_items', 'bytes', 'limit_maxbytes', 'evictions', 'threads'];
const META_CODES = new Set(['HD', 'VA', 'EN', 'NF', 'NS', 'EX', 'MN']);
const TTL_TOLERANCE_SEC = 2;

function statName(name: string): string {
  return name.replace(/[0-9]+/g, 'N');
}

function normTextLine(line: string, names: CasNames): { text: string; fuzzy: number[] } {
  const fuzzy: number[] = [];
  const body = line.replace(/\r?\n$/, '');
  const eol = line.slice(body.length);
  const t = body.split(' ');
  if (t[0] === 'VERSION' && t.length === 2) return { text: 'VERSION <version>' + eol, fuzzy };
  if (t[0] === 'VALUE' && t.length === 5 && /^[0-9]+$/.test(t[4])) t[4] = casName(names, BigInt(t[4]));
  else if (META_CODES.has(t[0])) {
    for (let i = 1; i < t.length; i++) {
      const flag = t[i][0];
      const num = t[i].slice(1);
      if (flag === 'c' && /^[0-9]+$/.test(num)) t[i] = 'c' + casName(names, BigInt(num));
      else if (flag === 'h' && (num === '0' || num === '1')) t[i] = 'h?';
      else if ((flag === 't' || flag === 'l') && /^-?[0-9]+$/.test(num) && num !== '-1') {
        fuzzy.push(Number(num));
        t[i] = flag + '~';
      }
    }
  } else if (t[0] === 'ME') {
    for (let i = 2; i < t.length; i++) {
      const [k, v] = t[i].split('=');
      if ((k === 'exp' || k === 'la') && v !== '-1') { fuzzy.push(Number(v)); t[i] = `${k}=~`; }
      else if (k === 'cas') t[i] = `cas=${casName(names, BigInt(v))}`;
      else if (k === 'cls' || k === 'size' || k === 'fetch') t[i] = `${k}=*`;
    }
  }
  return { text: t.join(' ') + eol, fuzzy };
}

/**
 * memcached decrements in place when no other connection holds the item, padding the shorter
 * number with spaces ("100" -1 -> "99 "), and otherwise stores a fresh unpadded item: which one
 * happens is timing, so a number followed by spaces is compared as the bare number.
 */
function unpadDecremented(header: string, data: string): { header: string; data: string } {
  const m = /^([0-9]+)( +)\r\n$/.exec(data);
  if (!m) return { header, data };
  const t = header.replace(/\r?\n$/, '').split(' ');
  const at = t[0] === 'VALUE' ? 3 : t[0] === 'VA' ? 1 : -1;
  if (at < 0) return { header, data };
  t[at] = String(m[1].length);
  return { header: t.join(' ') + '\r\n', data: m[1] + '\r\n' };
}

/** Text/meta frames of one batch (the sentinel's reply already removed). */
export function normalizeText(frames: TextFrame[], names: CasNames): NormFrame[] {
  const out: NormFrame[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (f.kind === 'line' && f.raw.toString('latin1').startsWith('STAT ')) {
      const lines: string[] = [];
      while (i < frames.length && frames[i].kind === 'line') {
        const s = (frames[i] as { raw: Buffer }).raw.toString('latin1');
        lines.push(s);
        if (!s.startsWith('STAT ')) break;
        i++;
      }
      const last = lines[lines.length - 1] ?? '';
      const statLines = lines.filter((l) => l.startsWith('STAT '));
      const shapeOk = last === 'END\r\n' && statLines.every((l) => /^STAT [^ ]+ [^\r\n]*\r\n$/.test(l));
      out.push({ kind: 'stats', names: statLines.map((l) => statName(l.split(' ')[1])), shapeOk, raw: lines.join('') });
      continue;
    }
    if (f.kind === 'line') out.push({ kind: 'exact', ...normTextLine(f.raw.toString('latin1'), names) });
    else {
      const { header, data } = unpadDecremented(f.header.toString('latin1'), f.data.toString('latin1'));
      const h = normTextLine(header, names);
      out.push({ kind: 'exact', text: h.text + data, fuzzy: h.fuzzy });
    }
  }
  return out;
}

function hex(b: Buffer): string {
  return b.toString('hex');
}

function normPacket(p: BinResponse, names: CasNames): string {
  // Padded decrement (see unpadDecremented) also shows in binary get values.
  const unpadded = /^[0-9]+ +$/.test(p.value.toString('latin1')) ? Buffer.from(p.value.toString('latin1').trimEnd()) : p.value;
  const value = p.opcode === 0x0b && p.status === 0 ? '<version>' : hex(unpadded);
  return `magic=${p.magic} op=${p.opcode} status=${p.status} opaque=${p.opaque} cas=${casName(names, p.cas)} ` +
    `extras=${hex(p.extras)} key=${hex(p.key)} value=${value}`;
}

/** Binary packets of one batch (the sentinel noop already removed). */
export function normalizeBinary(packets: BinResponse[], names: CasNames): NormFrame[] {
  const out: NormFrame[] = [];
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i];
    if (p.opcode === 0x10 && p.status === 0) {
      const statNames: string[] = [];
      let raw = '';
      while (i < packets.length && packets[i].opcode === 0x10 && packets[i].key.length > 0) {
        statNames.push(statName(packets[i].key.toString('latin1')));
        raw += packets[i].key.toString('latin1') + '=' + packets[i].value.toString('latin1') + ' ';
        i++;
      }
      const end = packets[i];
      out.push({ kind: 'stats', names: statNames, shapeOk: end !== undefined && end.opcode === 0x10 && end.key.length === 0, raw });
      continue;
    }
    out.push({ kind: 'exact', text: normPacket(p, names), fuzzy: [] });
  }
  return out;
}

/** Why `subject` differs from `reference`, or undefined if they agree. */
export function compareFrame(reference: NormFrame, subject: NormFrame): string | undefined {
  if (reference.kind === 'stats' && subject.kind === 'stats') {
    if (!subject.shapeOk) return 'stats reply is not STAT lines closed by END (or binary stats not closed by an empty key)';
    // Only general and settings stats have fixed names; items/slabs/conns list what exists now.
    if (!reference.names.includes('pid') && !reference.names.includes('maxbytes')) return undefined;
    const ref = new Set(reference.names);
    const extra = subject.names.filter((n) => !ref.has(n));
    if (extra.length > 0) return `stats names memcached does not have: ${extra.join(', ')}`;
    if (ref.has('pid')) {
      const have = new Set(subject.names);
      const missing = CORE_STATS.filter((n) => !have.has(n));
      if (missing.length > 0) return `general stats lack: ${missing.join(', ')}`;
    }
    return undefined;
  }
  if (reference.kind === 'exact' && subject.kind === 'exact') {
    if (reference.text !== subject.text) return 'bytes differ';
    for (let i = 0; i < reference.fuzzy.length; i++) {
      if (Math.abs(reference.fuzzy[i] - subject.fuzzy[i]) > TTL_TOLERANCE_SEC) {
        return `time field differs by more than ${TTL_TOLERANCE_SEC}s: ${reference.fuzzy[i]} vs ${subject.fuzzy[i]}`;
      }
    }
    return undefined;
  }
  // items/slabs/conns list what exists now: memcached keeps flushed items until its crawler runs,
  // mucached drops them at once, so one side may list items while the other lists none.
  const isEmptyStats = (f: NormFrame) => f.kind === 'exact' && f.text === 'END\r\n';
  const isListing = (f: NormFrame) => f.kind === 'stats' && !f.names.includes('pid') && !f.names.includes('maxbytes');
  if ((isListing(reference) && isEmptyStats(subject)) || (isEmptyStats(reference) && isListing(subject))) return undefined;
  return 'one is a stats block, the other is not';
}

export function describeFrame(f: NormFrame | undefined): string {
  if (f === undefined) return '(nothing)';
  if (f.kind === 'stats') return `stats[${f.names.length} names]`;
  return JSON.stringify(f.text.length > 300 ? f.text.slice(0, 300) + '...' : f.text) + (f.fuzzy.length ? ` ~${f.fuzzy.join(',')}` : '');
}

export { parseBinaryFrames, parseTextFrames };
