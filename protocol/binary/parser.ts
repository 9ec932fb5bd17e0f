/**
 * Streaming parser of memcached binary requests. Pure: bytes in, commands out, no I/O. The
 * commands produced do not depend on how the byte stream is split into chunks.
 *
 * Memory bound (invariant): between calls the parser holds at most READ_BUFFER_BYTES of an
 * incomplete request head (header+extras+key) or one value no larger than the item size limit.
 * Values over the limit are skipped as they arrive, never stored.
 */
import { HEADER_BYTES, Opcode, READ_BUFFER_BYTES, REQUEST_MAGIC } from './constants';
import type { BinaryCommand } from './commands';
import { decodeRequestHeader, RequestHeader } from './header';
import { FrameLimits, planFrame } from './validate';

type State =
  | { phase: 'head' }
  | { phase: 'value'; header: RequestHeader; command: number; quiet: boolean; extras: Buffer; key: Buffer; value: Buffer; filled: number }
  | { phase: 'swallow'; remainingBytes: number }
  | { phase: 'closed' };

const EMPTY = Buffer.alloc(0);

export class BinaryRequestParser {
  private state: State = { phase: 'head' };
  /** Unconsumed bytes of an incomplete request head (always empty outside the 'head' phase). */
  private pending: Buffer = EMPTY;

  constructor(private readonly limits: FrameLimits) {}

  /** True once the stream ended (quit, fatal error): later bytes are ignored. */
  get closed(): boolean {
    return this.state.phase === 'closed';
  }

  /** Memory held for the current request: the head so far, or the whole value being read (it
   *  is allocated when its header arrives, as memcached allocates the item). */
  bufferedBytes(): number {
    return this.pending.length + (this.state.phase === 'value' ? this.state.value.length : 0);
  }

  push(chunk: Buffer): BinaryCommand[] {
    const out: BinaryCommand[] = [];
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    this.pending = EMPTY;
    // Every iteration consumes bytes or leaves the loop, so the loop ends within data.length + 1
    // iterations; the explicit bound guards that invariant.
    for (let guard = 0; guard <= data.length + 1 && pos <= data.length; guard++) {
      const state = this.state;
      if (state.phase === 'closed') return out;
      if (state.phase === 'swallow') {
        const skip = Math.min(state.remainingBytes, data.length - pos);
        pos += skip;
        state.remainingBytes -= skip;
        if (state.remainingBytes > 0) break;
        this.state = { phase: 'head' };
        continue;
      }
      if (state.phase === 'value') {
        const take = Math.min(state.value.length - state.filled, data.length - pos);
        data.copy(state.value, state.filled, pos, pos + take);
        state.filled += take;
        pos += take;
        if (state.filled < state.value.length) break;
        this.state = { phase: 'head' };
        out.push(this.finishRequest(state));
        continue;
      }
      const consumed = this.parseHead(data, pos, out);
      if (consumed === 0) break;
      pos += consumed;
    }
    if (this.state.phase === 'head' && pos < data.length) {
      // Copy: a view would pin the whole (possibly large) chunk in memory.
      this.pending = Buffer.from(data.subarray(pos));
    }
    return out;
  }

  /** Parse one request head at `pos`; returns the bytes consumed (0 = need more input). */
  private parseHead(data: Buffer, pos: number, out: BinaryCommand[]): number {
    const available = data.length - pos;
    // memcached checks the magic only once a whole header has arrived.
    if (available < HEADER_BYTES) return 0;
    if (data[pos] !== REQUEST_MAGIC) return this.close(out, `invalid magic 0x${data[pos].toString(16)}`);
    const header = decodeRequestHeader(data, pos);
    const headBytes = HEADER_BYTES + header.extrasBytes + header.keyBytes;
    if (headBytes > READ_BUFFER_BYTES) {
      // memcached waits for the head in a fixed read buffer and gives up once that is full.
      if (available >= READ_BUFFER_BYTES) return this.close(out, `request head of ${headBytes} bytes exceeds the read buffer`);
      return 0;
    }
    if (available < headBytes) return 0;
    const extrasStart = pos + HEADER_BYTES;
    const extras = Buffer.from(data.subarray(extrasStart, extrasStart + header.extrasBytes));
    const key = Buffer.from(data.subarray(extrasStart + header.extrasBytes, pos + headBytes));
    const plan = planFrame(header, extras, this.limits);
    switch (plan.action) {
      case 'request':
        if (plan.valueBytes === 0) {
          out.push({ kind: 'request', header, command: plan.command, quiet: plan.quiet, extras, key, value: EMPTY });
          if (plan.command === Opcode.QUIT) this.state = { phase: 'closed' };
        } else {
          this.state = {
            phase: 'value', header, command: plan.command, quiet: plan.quiet, extras, key,
            value: Buffer.allocUnsafe(plan.valueBytes), filled: 0,
          };
        }
        break;
      case 'tooLarge':
        out.push({ kind: 'tooLarge', header, command: plan.command, key });
        this.startSwallow(plan.swallowBytes);
        break;
      case 'error':
        out.push({ kind: 'error', header, status: plan.status, close: plan.close });
        if (plan.close) this.state = { phase: 'closed' };
        else this.startSwallow(plan.swallowBytes);
        break;
    }
    return headBytes;
  }

  private startSwallow(bytes: number): void {
    if (bytes > 0) this.state = { phase: 'swallow', remainingBytes: bytes };
  }

  private finishRequest(state: Extract<State, { phase: 'value' }>): BinaryCommand {
    return {
      kind: 'request', header: state.header, command: state.command, quiet: state.quiet,
      extras: state.extras, key: state.key, value: state.value,
    };
  }

  /** Stop parsing; returns a positive count so the caller's loop moves on (and then exits). */
  private close(out: BinaryCommand[], reason: string): number {
    out.push({ kind: 'close', reason });
    this.state = { phase: 'closed' };
    this.pending = EMPTY;
    return 1;
  }
}
