/**
 * Drives a streaming parser over chunks and checks the invariants every push must keep, whatever
 * the bytes: no throw, memory held stays under the documented bound, nothing comes out once the
 * parser closed, and the number of commands is bounded by the bytes (each command consumes input,
 * so a parser cannot loop emitting commands). Pure: no sockets. Shared by the fast-check tests and
 * the memory soak (tests/fuzz/memory-soak.ts).
 */
import { AsciiParser, MAX_LINE_BYTES } from '../../protocol/ascii/parser';
import type { AsciiCommand } from '../../protocol/ascii/commands';
import { BinaryRequestParser } from '../../protocol/binary/parser';
import type { BinaryCommand } from '../../protocol/binary/commands';
import { HEADER_BYTES, READ_BUFFER_BYTES } from '../../protocol/binary/constants';

/** Small limits so the too-large and swallow paths are reached by small inputs. */
export const MAX_VALUE_BYTES = 1024;
export const MAX_GET_LINE_BYTES = 16 * 1024;
const maxValueBytes = (keyBytes: number): number => MAX_VALUE_BYTES - keyBytes;

export interface Driven<C> {
  commands: C[];
  /** Largest bufferedBytes() seen after any push. */
  peakBufferedBytes: number;
  closed: boolean;
  /** bufferedBytes() after the last push. */
  finalBufferedBytes: number;
}

interface Subject<C> {
  push(chunk: Buffer): C[];
  bufferedBytes(): number;
  isClosed(): boolean;
  /** Documented bound on bufferedBytes() between pushes. */
  maxBufferedBytes: number;
  /** Upper bound on the commands `input` may produce. */
  maxCommands(input: Buffer): number;
  isTerminal(c: C): boolean;
}

function drive<C>(subject: Subject<C>, chunks: readonly Buffer[]): Driven<C> {
  const commands: C[] = [];
  let peak = 0;
  let total = 0;
  for (const chunk of chunks) {
    const wasClosed = subject.isClosed();
    const out = subject.push(chunk);
    total += chunk.length;
    if (wasClosed && out.length > 0) throw new Error(`a closed parser returned ${out.length} commands`);
    const terminal = out.findIndex((c) => subject.isTerminal(c));
    if (terminal >= 0 && terminal !== out.length - 1) throw new Error('commands after the one that closed the stream');
    commands.push(...out);
    const held = subject.bufferedBytes();
    peak = Math.max(peak, held);
    if (held > subject.maxBufferedBytes) throw new Error(`parser holds ${held} bytes, over its bound of ${subject.maxBufferedBytes}`);
  }
  const input = Buffer.concat(chunks as Buffer[], total);
  const bound = subject.maxCommands(input);
  if (commands.length > bound) throw new Error(`${commands.length} commands from ${input.length} bytes (bound ${bound})`);
  return { commands, peakBufferedBytes: peak, closed: subject.isClosed(), finalBufferedBytes: subject.bufferedBytes() };
}

function countNewlines(input: Buffer): number {
  let n = 0;
  for (let i = input.indexOf(0x0a); i >= 0; i = input.indexOf(0x0a, i + 1)) n++;
  return n;
}

export function newAsciiParser(): AsciiParser {
  return new AsciiParser({ maxKeyBytes: 250, maxValueBytes, maxGetLineBytes: MAX_GET_LINE_BYTES });
}

/** Text and meta protocol (one parser handles both, as on memcached's ASCII port). */
export function driveAscii(chunks: readonly Buffer[], parser = newAsciiParser()): Driven<AsciiCommand> {
  return drive<AsciiCommand>({
    push: (c) => parser.push(c),
    bufferedBytes: () => parser.bufferedBytes(),
    isClosed: () => parser.isClosed(),
    // An unfinished line (a multi-get may grow to its own cap) or one value block with its \r\n.
    maxBufferedBytes: Math.max(MAX_LINE_BYTES, MAX_GET_LINE_BYTES, MAX_VALUE_BYTES + 2),
    // One command per complete line (a value block is consumed with its line), plus a close for
    // an over-long unfinished line, plus the value block a reused parser was filling.
    maxCommands: (input) => countNewlines(input) + 2,
    isTerminal: (c) => c.kind === 'close' || c.kind === 'quit',
  }, chunks);
}

export function newBinaryParser(): BinaryRequestParser {
  return new BinaryRequestParser({ maxKeyBytes: 250, maxValueBytes });
}

export function driveBinary(chunks: readonly Buffer[], parser = newBinaryParser()): Driven<BinaryCommand> {
  return drive<BinaryCommand>({
    push: (c) => parser.push(c),
    bufferedBytes: () => parser.bufferedBytes(),
    isClosed: () => parser.closed,
    // An incomplete request head, or one value being filled (never both).
    maxBufferedBytes: Math.max(READ_BUFFER_BYTES, MAX_VALUE_BYTES),
    // Every request, error or too-large consumes at least a header; a close may follow, and a
    // reused parser may finish the value it was filling.
    maxCommands: (input) => Math.floor(input.length / HEADER_BYTES) + 2,
    isTerminal: (c) => c.kind === 'close' || (c.kind === 'error' && c.close) || (c.kind === 'request' && c.command === 0x07),
  }, chunks);
}
