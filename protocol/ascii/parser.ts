/**
 * Streaming ASCII (text + meta) parser: bytes in, commands out, independent of how TCP cut the
 * stream. It holds at most one unfinished command line (bounded, see below) or the value block of
 * one storage command (bounded by the item-size limit); too-large values are counted down and
 * dropped, never buffered.
 *
 * Line rules (memcached 1.6.18 try_read_command_ascii): a line ends at \n, a \r before it is
 * dropped unless it is the line's only byte. A line that grows past 2048 bytes without a newline
 * closes the connection unless it is a multi-get (`get ` / `gets ` after at most 100 spaces).
 * memcached applies that test per read(), so whether a long line survives depends on packet
 * boundaries there; here it depends only on the bytes: any line longer than 2048 bytes that is
 * not a multi-get closes. Multi-get lines are unbounded in memcached; here they are capped at
 * `maxGetLineBytes` (the connection closes beyond it).
 */
import type { AsciiCommand } from './commands';
import { parseFastLine } from './fast-line';
import { parseLine } from './line';
import type { LineLimits, PendingValue } from './line';

export const MAX_LINE_BYTES = 2048;
export const DEFAULT_MAX_GET_LINE_BYTES = 4 * 1024 * 1024;

export interface AsciiParserOptions extends LineLimits {
  maxGetLineBytes?: number;
}

type State =
  | { mode: 'line' }
  | { mode: 'value'; pending: PendingValue; block: Buffer; filled: number }
  | { mode: 'swallow'; remaining: number }
  | { mode: 'closed' };

const NEWLINE = 0x0a;
/** Enough of a line's start to recognise a multi-get: 100 spaces and "gets ". */
const HEAD_BYTES = 106;

export class AsciiParser {
  private state: State = { mode: 'line' };
  /** Pieces of an unfinished line (line mode only); none of them holds a newline. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private readonly maxGetLineBytes: number;

  constructor(private readonly limits: AsciiParserOptions) {
    this.maxGetLineBytes = limits.maxGetLineBytes ?? DEFAULT_MAX_GET_LINE_BYTES;
  }

  /** Bytes held for an unfinished line, or allocated for the value being read. */
  bufferedBytes(): number {
    if (this.state.mode === 'value') return this.state.block.length;
    return this.partialBytes;
  }

  /**
   * Input bytes the parser will copy into the value block it is filling (the rest of the value and
   * its \r\n) or drop (a too-large value), keeping no reference to them: push() may be given those
   * in a buffer that is reused right after. Once they complete the block, the command it emits
   * carries the block, not the input.
   */
  copiesAhead(): number {
    if (this.state.mode === 'value') return this.state.block.length - this.state.filled;
    if (this.state.mode === 'swallow') return this.state.remaining;
    return 0;
  }

  /** True once the parser asked for the connection to close; later input is ignored. */
  isClosed(): boolean {
    return this.state.mode === 'closed';
  }

  push(chunk: Buffer): AsciiCommand[] {
    const out: AsciiCommand[] = [];
    const data = this.joinPartial(chunk);
    if (data === undefined) return this.checkPartial();
    let pos = 0;
    while (pos < data.length) {
      const st = this.state;
      if (st.mode === 'closed') return out;
      if (st.mode === 'swallow') {
        const n = Math.min(st.remaining, data.length - pos);
        pos += n;
        st.remaining -= n;
        if (st.remaining === 0) this.state = { mode: 'line' };
        continue;
      }
      if (st.mode === 'value') {
        const n = Math.min(st.block.length - st.filled, data.length - pos);
        data.copy(st.block, st.filled, pos, pos + n);
        st.filled += n;
        pos += n;
        if (st.filled === st.block.length) {
          this.state = { mode: 'line' };
          out.push(finishValue(st.pending, st.block, true));
        }
        continue;
      }
      const nl = data.indexOf(NEWLINE, pos);
      if (nl < 0) {
        const rest = data.subarray(pos);
        const close = this.checkUnfinishedLine(rest);
        if (close) {
          out.push(close);
          this.state = { mode: 'closed' };
          return out;
        }
        // Copy so the caller's chunk is not pinned by a small remainder.
        this.partial = [Buffer.from(rest)];
        this.partialBytes = rest.length;
        return out;
      }
      let end = nl;
      if (nl - pos > 1 && data[nl - 1] === 0x0d) end = nl - 1;
      const lineStart = pos;
      // Measured with its \r, as the unfinished line was: the verdict cannot depend on the split.
      const rawBytes = nl - pos;
      pos = nl + 1;
      if (rawBytes > MAX_LINE_BYTES) {
        const close = this.checkUnfinishedLine(data.subarray(lineStart, end), rawBytes);
        if (close) {
          out.push(close);
          this.state = { mode: 'closed' };
          return out;
        }
      }
      const outcome = parseFastLine(data, lineStart, end, this.limits) ?? parseLine(data.toString('latin1', lineStart, end), this.limits);
      if (outcome.next === 'command') {
        out.push(outcome.command);
        if (outcome.command.kind === 'close' || outcome.command.kind === 'quit') {
          this.state = { mode: 'closed' };
          return out;
        }
      } else if (outcome.next === 'swallow') {
        out.push(outcome.command);
        this.state = { mode: 'swallow', remaining: outcome.bytes };
      } else {
        const blockBytes = outcome.pending.valueBytes + 2;
        if (data.length - pos >= blockBytes) {
          // The whole data block is in this chunk: hand out a view, no copy. The cache copies what
          // it keeps (decide.ts), so the view never outlives the command that carries it.
          out.push(finishValue(outcome.pending, data.subarray(pos, pos + blockBytes), false));
          pos += blockBytes;
        } else {
          // Its own memory (not a slice of Buffer's shared pool): the cache may keep the value as is.
          this.state = { mode: 'value', pending: outcome.pending, block: Buffer.allocUnsafeSlow(blockBytes), filled: 0 };
        }
      }
    }
    return out;
  }

  /**
   * The bytes to parse: a pending line plus `chunk`, or undefined when `chunk` holds no newline
   * and only extends the pending line (kept as pieces: a long multi-get arriving in small chunks
   * costs linear, not quadratic, copying).
   */
  private joinPartial(chunk: Buffer): Buffer | undefined {
    if (this.partialBytes === 0) return chunk;
    if (this.state.mode === 'line' && chunk.indexOf(NEWLINE) < 0) {
      this.partial.push(Buffer.from(chunk));
      this.partialBytes += chunk.length;
      return undefined;
    }
    const data = Buffer.concat([...this.partial, chunk]);
    this.partial = [];
    this.partialBytes = 0;
    return data;
  }

  /** After extending the pending line: close if it grew too long. */
  private checkPartial(): AsciiCommand[] {
    if (this.partialBytes <= MAX_LINE_BYTES) return [];
    // The verdict needs only the line's start: up to 100 spaces and "gets ".
    const headPieces: Buffer[] = [];
    for (let i = 0, n = 0; i < this.partial.length && n < HEAD_BYTES; i++) {
      headPieces.push(this.partial[i]);
      n += this.partial[i].length;
    }
    const head = Buffer.concat(headPieces).subarray(0, HEAD_BYTES);
    const close = this.checkUnfinishedLine(head, this.partialBytes);
    if (!close) return [];
    this.state = { mode: 'closed' };
    this.partial = [];
    this.partialBytes = 0;
    return [close];
  }

  /** A line that has no newline yet (or a complete one that is too long): close or keep going. */
  private checkUnfinishedLine(bytes: Buffer, lineBytes = bytes.length): AsciiCommand | undefined {
    if (lineBytes <= MAX_LINE_BYTES) return undefined;
    let spaces = 0;
    while (spaces < bytes.length && bytes[spaces] === 0x20) spaces++;
    const head = bytes.subarray(spaces, spaces + 5).toString('latin1');
    const multiGet = spaces <= 100 && (head.startsWith('get ') || head === 'gets ');
    if (!multiGet) return { kind: 'close', reason: `command line over ${MAX_LINE_BYTES} bytes without a newline` };
    if (lineBytes > this.maxGetLineBytes) return { kind: 'close', reason: `multi-get line over ${this.maxGetLineBytes} bytes` };
    return undefined;
  }
}

/** `owned`: `block` was allocated for this value alone and is not used again (see valueOwned). */
function finishValue(pending: PendingValue, block: Buffer, owned: boolean): AsciiCommand {
  const n = pending.valueBytes;
  const terminated = block[n] === 0x0d && block[n + 1] === 0x0a;
  if (!terminated) return { kind: 'badDataChunk', noreply: pending.text ? pending.text.noreply : false };
  const value = block.subarray(0, n);
  const t = pending.text;
  if (t) return { kind: 'store', mode: t.mode, key: t.key, flags: t.flags, exptime: t.exptime, cas: t.cas, value, valueOwned: owned, noreply: t.noreply };
  const meta = pending.meta!;
  return { kind: 'ms', key: meta.key, flags: meta.flags, value };
}
