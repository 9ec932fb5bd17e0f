/**
 * Fuzzing the text + meta protocol parser (protocol/ascii): arbitrary bytes, protocol-alphabet
 * noise, valid pipelines mutated (bit flips, truncation, duplication, inserted CR/LF/NUL, nasty
 * numbers), lines around the 2048-byte limit; each fed whole, in random chunks and byte by byte.
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>.
 */
import * as fc from 'fast-check';
import { check } from './fuzz-config';
import { driveAscii, MAX_GET_LINE_BYTES } from './drive';
import { asciiNoiseArb, asciiStreamArb, longLineArb } from './gen-ascii';
import { applyMutations, bytewise, cutsArb, mutationsArb, split } from './mutate';
import { MAX_LINE_BYTES } from '../../protocol/ascii/parser';
import type { AsciiCommand } from '../../protocol/ascii/commands';

const bytesArb = fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a));
const mutatedArb = fc.tuple(asciiStreamArb, mutationsArb).map(([stream, mutations]) => applyMutations(stream, mutations));

const inputArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 2, arbitrary: bytesArb },
  { weight: 2, arbitrary: asciiNoiseArb },
  { weight: 6, arbitrary: mutatedArb },
  { weight: 1, arbitrary: asciiStreamArb },
  { weight: 1, arbitrary: fc.tuple(asciiStreamArb, longLineArb, asciiStreamArb).map((parts) => Buffer.concat(parts)) },
);

/** Commands without `valueOwned`, which says whether a value was gathered across chunks. */
function anyChunking(commands: AsciiCommand[]): unknown[] {
  return commands.map((c) => (c.kind === 'store' ? { ...c, valueOwned: undefined } : c));
}

/** A value marked owned sits alone in memory of its own (the cache keeps it without a copy). */
function expectOwnedValuesAlone(commands: AsciiCommand[]): void {
  for (const c of commands) {
    if (c.kind === 'store' && c.valueOwned) {
      expect({ byteOffset: c.value.byteOffset, arrayBufferBytes: c.value.buffer.byteLength }).toEqual({ byteOffset: 0, arrayBufferBytes: c.value.length + 2 });
    }
  }
}

describe('ASCII parser (text + meta): fuzzed', () => {
  test('never throws, stays within its memory bound, emits a bounded number of commands', () => {
    check(fc.property(inputArb, cutsArb, (input, cuts) => {
      driveAscii([input]);
      driveAscii(split(input, cuts));
    }), 1500);
  });

  test('the same commands for any chunking, down to one byte at a time', () => {
    check(fc.property(inputArb, cutsArb, (input, cuts) => {
      const whole = driveAscii([input]);
      const chunked = driveAscii(split(input, cuts));
      expect(anyChunking(chunked.commands)).toEqual(anyChunking(whole.commands));
      expect(chunked.closed).toBe(whole.closed);
      expect(chunked.finalBufferedBytes).toBe(whole.finalBufferedBytes);
      expectOwnedValuesAlone(chunked.commands);
      if (input.length <= 2048) {
        const bytes = driveAscii(bytewise(input)).commands;
        expect(anyChunking(bytes)).toEqual(anyChunking(whole.commands));
        expectOwnedValuesAlone(bytes);
      }
    }), 800);
  });

  test('a line over 2048 bytes closes unless it is a multi-get; a multi-get is capped', () => {
    check(fc.property(longLineArb, cutsArb, (line, cuts) => {
      const driven = driveAscii(split(line, cuts));
      const text = line.toString('latin1');
      const lineBytes = text.endsWith('\r\n') ? line.length - 1 : line.length; // measured with its \r, without \n
      const multiGet = /^ {0,100}gets? /.test(text);
      const shouldClose = lineBytes > MAX_LINE_BYTES && (!multiGet || lineBytes > MAX_GET_LINE_BYTES);
      expect(driven.closed).toBe(shouldClose);
      if (shouldClose) expect(driven.commands[driven.commands.length - 1].kind).toBe('close');
    }), 200);
  });

  test('a closed parser ignores everything after', () => {
    check(fc.property(inputArb, inputArb, (first, after) => {
      // drive() itself fails if a closed parser returns commands from a later push.
      const driven = driveAscii([Buffer.concat([Buffer.from('quit\r\n'), first]), after]);
      expect(driven.closed).toBe(true);
      expect(driven.commands).toEqual([{ kind: 'quit' }]);
    }), 200);
  });
});
