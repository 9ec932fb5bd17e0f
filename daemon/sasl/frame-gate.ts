/**
 * The -S gate in front of the binary request parser. It sees every request head first, in
 * memcached 1.6.18's order of checks (dispatch_bin_command):
 *   1. key + extras longer than the body: left to the parser (unknown command, close);
 *   2. not yet authenticated and the opcode is not one of the SASL opcodes or version:
 *      "Auth failure." and the connection closes (nothing of the request is read further);
 *   3. the SASL opcodes are framed here, with the SASL length rules (the parser alone treats them
 *      as unknown commands, which is right without -S);
 *   4. every other request is handed to the parser byte for byte: its own framing (planFrame)
 *      says how many bytes it takes, so the gate and the parser always agree on frame boundaries.
 * Pure: bytes in, commands out (through `emit`, synchronously and in order, so an auth that
 * succeeds is already in force when the next head is gated).
 *
 * Memory bound: like the parser, at most one request head (<= READ_BUFFER_BYTES) or one SASL
 * message no larger than an item is held.
 */
import { HEADER_BYTES, Opcode, READ_BUFFER_BYTES, REQUEST_MAGIC, Status, StatusCode } from '../../protocol/binary/constants';
import type { BinaryCommand } from '../../protocol/binary/commands';
import { decodeRequestHeader, RequestHeader } from '../../protocol/binary/header';
import type { BinaryRequestParser } from '../../protocol/binary/parser';
import { FrameLimits, planFrame } from '../../protocol/binary/validate';

/** memcached's MAX_SASL_MECH_LEN: a longer mechanism name is refused before its data is read. */
export const MAX_MECHANISM_BYTES = 32;

const INT32_LIMIT = 2 ** 31;
const EMPTY = Buffer.alloc(0);

type State =
  | { phase: 'head' }
  /** The parser takes the next `remainingBytes` (one whole frame, head included). */
  | { phase: 'forward'; remainingBytes: number }
  | { phase: 'saslData'; header: RequestHeader; key: Buffer; value: Buffer; filled: number }
  | { phase: 'swallow'; remainingBytes: number }
  /** The parser decides the rest of the stream (it is about to close it). */
  | { phase: 'passthrough' }
  | { phase: 'closed' };

export function allowedBeforeAuth(opcode: number): boolean {
  return opcode === Opcode.SASL_LIST_MECHS || opcode === Opcode.SASL_AUTH || opcode === Opcode.SASL_STEP || opcode === Opcode.VERSION;
}

export class SaslFrameGate {
  private state: State = { phase: 'head' };
  /** Unconsumed bytes of an incomplete request head (empty outside the 'head' phase). */
  private pending: Buffer = EMPTY;

  constructor(
    private readonly parser: BinaryRequestParser,
    private readonly limits: FrameLimits,
    private readonly authenticated: () => boolean,
  ) {}

  bufferedBytes(): number {
    const saslBytes = this.state.phase === 'saslData' ? this.state.value.length : 0;
    return this.pending.length + saslBytes + this.parser.bufferedBytes();
  }

  push(chunk: Buffer, emit: (command: BinaryCommand) => void): void {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let pos = 0;
    // Each iteration consumes bytes, changes phase towards the end of the stream, or leaves the
    // loop; the explicit bound guards that invariant.
    for (let guard = 0; guard <= 2 * data.length + 4; guard++) {
      const state = this.state;
      if (state.phase === 'closed') return;
      if (state.phase === 'passthrough') {
        if (pos < data.length) this.toParser(data.subarray(pos), emit);
        return;
      }
      if (state.phase === 'forward' || state.phase === 'swallow') {
        const take = Math.min(state.remainingBytes, data.length - pos);
        if (state.phase === 'forward' && take > 0) this.toParser(data.subarray(pos, pos + take), emit);
        pos += take;
        state.remainingBytes -= take;
        if (state.remainingBytes > 0) return;
        this.state = this.parser.closed ? { phase: 'closed' } : { phase: 'head' };
        continue;
      }
      if (state.phase === 'saslData') {
        const take = Math.min(state.value.length - state.filled, data.length - pos);
        data.copy(state.value, state.filled, pos, pos + take);
        state.filled += take;
        pos += take;
        if (state.filled < state.value.length) return;
        this.state = { phase: 'head' };
        emit(saslRequest(state.header, state.key, state.value));
        continue;
      }
      const consumed = this.gateHead(data, pos, emit);
      if (consumed === 0 && this.state.phase === 'head') break;
      pos += consumed;
    }
    if (this.state.phase === 'head' && pos < data.length) this.pending = Buffer.from(data.subarray(pos));
  }

  /**
   * Decide the request whose head starts at `pos`. Returns the bytes taken here: the head of a
   * SASL request (or of a refused one); 0 when the parser takes the frame (phase 'forward' or
   * 'passthrough', which start at `pos`) or, with the phase still 'head', when more input is needed.
   */
  private gateHead(data: Buffer, pos: number, emit: (command: BinaryCommand) => void): number {
    const available = data.length - pos;
    if (available < HEADER_BYTES) return 0;
    if (data[pos] !== REQUEST_MAGIC) return this.passthrough();
    const header = decodeRequestHeader(data, pos);
    const headBytes = HEADER_BYTES + header.extrasBytes + header.keyBytes;
    if (headBytes > READ_BUFFER_BYTES) return this.passthrough();
    if (available < headBytes) return 0;
    if (header.keyBytes + header.extrasBytes > header.bodyBytes) return this.passthrough();
    if (!this.authenticated() && !allowedBeforeAuth(header.opcode)) {
      emit({ kind: 'error', header, status: Status.AUTH_ERROR, close: true });
      this.state = { phase: 'closed' };
      return headBytes;
    }
    const extras = data.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + header.extrasBytes);
    if (header.opcode === Opcode.SASL_LIST_MECHS || header.opcode === Opcode.SASL_AUTH || header.opcode === Opcode.SASL_STEP) {
      const key = Buffer.from(data.subarray(pos + HEADER_BYTES + header.extrasBytes, pos + headBytes));
      this.takeSaslHead(header, key, emit);
      return headBytes;
    }
    const plan = planFrame(header, extras, this.limits);
    const tailBytes = plan.action === 'request' ? plan.valueBytes : plan.swallowBytes;
    this.state = { phase: 'forward', remainingBytes: headBytes + tailBytes };
    return 0;
  }

  private passthrough(): number {
    this.state = { phase: 'passthrough' };
    return 0;
  }

  /** memcached's SASL length rules, after the checks every opcode gets. */
  private takeSaslHead(header: RequestHeader, key: Buffer, emit: (command: BinaryCommand) => void): void {
    const fail = (status: StatusCode, close: boolean, swallowBytes = 0) => {
      emit({ kind: 'error', header, status, close });
      if (close) this.state = { phase: 'closed' };
      else if (swallowBytes > 0 && swallowBytes < INT32_LIMIT) this.state = { phase: 'swallow', remainingBytes: swallowBytes };
    };
    const { keyBytes, extrasBytes, bodyBytes } = header;
    if (keyBytes > this.limits.maxKeyBytes) return fail(Status.EINVAL, true);
    if (header.opcode === Opcode.SASL_LIST_MECHS) {
      if (keyBytes !== 0 || extrasBytes !== 0 || bodyBytes !== 0) return fail(Status.EINVAL, true);
      emit(saslRequest(header, key, EMPTY));
      return;
    }
    if (extrasBytes !== 0 || keyBytes === 0) return fail(Status.EINVAL, true);
    const dataBytes = bodyBytes - keyBytes;
    if (keyBytes > MAX_MECHANISM_BYTES) return fail(Status.EINVAL, false, dataBytes);
    // memcached reads the message into an item: one too large for an item is "Out of memory".
    if (dataBytes >= INT32_LIMIT || dataBytes > this.limits.maxValueBytes(keyBytes, 0)) return fail(Status.ENOMEM, false, dataBytes);
    if (dataBytes === 0) {
      emit(saslRequest(header, key, EMPTY));
      return;
    }
    this.state = { phase: 'saslData', header, key, value: Buffer.allocUnsafe(dataBytes), filled: 0 };
  }

  private toParser(bytes: Buffer, emit: (command: BinaryCommand) => void): void {
    for (const command of this.parser.push(bytes)) emit(command);
  }
}

function saslRequest(header: RequestHeader, key: Buffer, value: Buffer): BinaryCommand {
  return { kind: 'request', header, command: header.opcode, quiet: false, extras: EMPTY, key, value };
}
