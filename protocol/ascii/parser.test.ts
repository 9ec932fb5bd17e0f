import fc from 'fast-check';
import type { AsciiCommand } from './commands';
import { AsciiParser, MAX_LINE_BYTES } from './parser';

const MAX_VALUE = 1000;
const limits = { maxKeyBytes: 250, maxValueBytes: () => MAX_VALUE, maxGetLineBytes: 64 * 1024 };

function parseChunks(chunks: Buffer[]): AsciiCommand[] {
  const parser = new AsciiParser(limits);
  return chunks.flatMap((c) => parser.push(c));
}
const parseAll = (text: string | Buffer): AsciiCommand[] => parseChunks([typeof text === 'string' ? Buffer.from(text, 'latin1') : text]);

function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(data.subarray(prev, p));
    prev = p;
  }
  chunks.push(data.subarray(prev));
  return chunks;
}

describe('AsciiParser', () => {
  test('copiesAhead: the rest of a value being gathered (and of one being dropped) is copied, never kept', () => {
    const parser = new AsciiParser(limits);
    expect(parser.copiesAhead()).toBe(0);
    expect(parser.push(Buffer.from('set k 0 0 10\r\nabc', 'latin1'))).toEqual([]);
    expect(parser.copiesAhead()).toBe(7 + 2); // 7 value bytes and the \r\n
    // Fed from a buffer that is overwritten right after, as the shared read buffer is.
    const reused = Buffer.from('defghij\r\n', 'latin1');
    const cmds = parser.push(reused.subarray(0, parser.copiesAhead()));
    reused.fill(0x58);
    expect(cmds).toMatchObject([{ kind: 'store', value: Buffer.from('abcdefghij'), valueOwned: true }]);
    expect(parser.copiesAhead()).toBe(0);
    // A value over the limit is swallowed: its bytes are dropped, and so may come from anywhere.
    parser.push(Buffer.from(`set big 0 0 ${MAX_VALUE + 1}\r\nxy`, 'latin1'));
    expect(parser.copiesAhead()).toBe(MAX_VALUE + 1 + 2 - 2);
  });

  test('storage command with its value, then a get', () => {
    const cmds = parseAll('set k 5 100 3\r\nabc\r\nget k j\r\n');
    expect(cmds).toEqual([
      { kind: 'store', mode: 'set', key: Buffer.from('k'), flags: 5, exptime: 100, cas: 0n, value: Buffer.from('abc'), valueOwned: false, noreply: false },
      { kind: 'get', variant: 'get', exptime: 0, keys: [Buffer.from('k'), Buffer.from('j')], keyTooLong: false },
    ]);
  });

  test('a value read whole from one chunk is a view of it; one gathered across chunks is owned, in memory of its own', () => {
    const [inOne] = parseAll('set k 0 0 3\r\nabc\r\n');
    expect(inOne).toMatchObject({ kind: 'store', value: Buffer.from('abc'), valueOwned: false });
    const [gathered] = parseChunks([Buffer.from('set k 0 0 5\r\nab'), Buffer.from('cde\r\n')]);
    expect(gathered).toMatchObject({ kind: 'store', value: Buffer.from('abcde'), valueOwned: true });
    // Not a slice of Buffer's shared pool: keeping it pins nothing else.
    const value = (gathered as { value: Buffer }).value;
    expect({ byteOffset: value.byteOffset, arrayBufferBytes: value.buffer.byteLength }).toEqual({ byteOffset: 0, arrayBufferBytes: 5 + 2 });
  });

  test('a value may contain \\r\\n; only the announced length counts', () => {
    const [cmd] = parseAll('set k 0 0 4\r\na\r\nb\r\n');
    expect(cmd).toMatchObject({ kind: 'store', value: Buffer.from('a\r\nb') });
  });

  test('bad data chunk: exactly length+2 bytes are consumed, the rest is parsed as commands', () => {
    expect(parseAll('set a 0 0 3\r\nabcdefghij\r\nget a\r\n').map((c) => c.kind)).toEqual(['badDataChunk', 'reply', 'get']);
    expect(parseAll('set a 0 0 3 noreply\r\nabcde\r\n')[0]).toEqual({ kind: 'badDataChunk', noreply: true });
  });

  test('too-large value: reply at once, swallow the bytes without buffering them', () => {
    const parser = new AsciiParser(limits);
    const first = parser.push(Buffer.from(`set big 0 0 ${MAX_VALUE + 1}\r\n`));
    expect(first).toEqual([{ kind: 'tooLarge', mode: 'set', key: Buffer.from('big'), noreply: false, meta: false }]);
    expect(parser.push(Buffer.alloc(MAX_VALUE, 0x61))).toEqual([]);
    expect(parser.bufferedBytes()).toBe(0);
    expect(parser.push(Buffer.from('a\r\nget x\r\n')).map((c) => c.kind)).toEqual(['get']);
  });

  test('bufferedBytes tracks a partial value and a partial line', () => {
    const parser = new AsciiParser(limits);
    parser.push(Buffer.from('set k 0 0 10\r\nabcd'));
    expect(parser.bufferedBytes()).toBe(12);
    parser.push(Buffer.from('efghij\r\nget'));
    expect(parser.bufferedBytes()).toBe(3);
  });

  test('a line over 2048 bytes without a newline closes unless it is a multi-get', () => {
    const parser = new AsciiParser(limits);
    expect(parser.push(Buffer.alloc(MAX_LINE_BYTES + 1, 0x78))).toEqual([
      { kind: 'close', reason: expect.stringContaining('2048') },
    ]);
    expect(parser.isClosed()).toBe(true);
    expect(parser.push(Buffer.from('get a\r\n'))).toEqual([]);

    const keys = Array.from({ length: 600 }, (_, i) => `k${i}`);
    const getLine = Buffer.from(`get ${keys.join(' ')}`);
    const multi = new AsciiParser(limits);
    expect(multi.push(getLine)).toEqual([]);
    expect(multi.bufferedBytes()).toBe(getLine.length);
    const [cmd] = multi.push(Buffer.from('\r\n'));
    expect(cmd).toMatchObject({ kind: 'get', keyTooLong: false });
    expect((cmd as { keys: Buffer[] }).keys.map(String)).toEqual(keys);
  });

  test('a multi-get line is capped so the buffer stays bounded', () => {
    const parser = new AsciiParser(limits);
    const out = parser.push(Buffer.from('get ' + 'k '.repeat(limits.maxGetLineBytes)));
    expect(out).toEqual([{ kind: 'close', reason: expect.stringContaining('multi-get') }]);
  });

  test('an HTTP request line closes; quit closes; later bytes are ignored', () => {
    expect(parseAll('GET / HTTP/1.1\r\nversion\r\n')).toEqual([{ kind: 'close', reason: expect.any(String) }]);
    expect(parseAll('quit\r\nversion\r\n')).toEqual([{ kind: 'quit' }]);
  });

  test('a NUL ends the command line as in C', () => {
    expect(parseAll(Buffer.from('get a\0b c\r\n'))).toEqual([
      { kind: 'get', variant: 'get', exptime: 0, keys: [Buffer.from('a')], keyTooLong: false },
    ]);
  });

  test('meta set: value read, flags kept in order; bad flags swallow the value', () => {
    const [ms] = parseAll('ms k 2 T10 F3 c O1\r\nhi\r\n');
    expect(ms).toMatchObject({ kind: 'ms', key: Buffer.from('k'), value: Buffer.from('hi') });
    expect((ms as { flags: { tokens: string[] } }).flags.tokens).toEqual(['T10', 'F3', 'c', 'O1']);
    expect(parseAll('ms k 2 MX\r\nhi\r\nmn\r\n')).toEqual([
      { kind: 'reply', line: 'CLIENT_ERROR invalid mode for ms M token', noreply: false },
      { kind: 'reply', line: 'MN', noreply: false },
    ]);
  });

  // The property the connection relies on: TCP may cut the stream anywhere.
  test('any split of the stream parses to the same commands', () => {
    const pieces = [
      'set a 0 0 3\r\nabc\r\n', 'get a b c\r\n', 'gets a\r\n', 'gat 10 a\r\n', 'add b 1 2 4 noreply\r\n\r\n\r\n',
      'cas a 0 0 1 99\r\nx\r\n', 'incr n 5\r\n', 'decr n 1 noreply\r\n', 'delete a\r\n', 'touch a 10\r\n',
      'set a 0 0 3\r\nabcde\r\n', `set big 0 0 ${MAX_VALUE + 5}\r\n${'z'.repeat(MAX_VALUE + 5)}\r\n`,
      'mg a v k c O123\r\n', 'ms a 3 T0 q\r\nxyz\r\n', 'md a q\r\n', 'ma n D3 MD v\r\n', 'mn\r\n', 'me a\r\n',
      'ms a 2 MZ\r\nzz\r\n', 'stats\r\n', 'stats items\r\n', 'flush_all 10\r\n', 'version\r\n', 'bogus\r\n', '\r\n',
      'verbosity 1\r\n', `get ${'k'.repeat(251)}\r\n`, `get ${'k'.repeat(2043)}\r\n`, `get ${'k'.repeat(2044)}\r\n`,
      `${'x'.repeat(2048)}\r\n`, `get ${'a '.repeat(1200)}\r\n`, 'set a\tb 0 0 1\r\nx\r\n', 'get a\r', '\n',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (chosen, cuts) => {
          const stream = Buffer.from(chosen.join(''), 'latin1');
          // Whether a value was gathered across chunks (valueOwned) depends on the split, by design.
          const sameSplitAnyway = (cmds: unknown[]) => cmds.map((c) => ({ ...(c as object), valueOwned: undefined }));
          const whole = sameSplitAnyway(parseChunks([stream]));
          const split = sameSplitAnyway(parseChunks(splitAt(stream, cuts)));
          expect(split).toEqual(whole);
          const bytewise = sameSplitAnyway(parseChunks(Array.from(stream, (b) => Buffer.from([b]))));
          expect(bytewise).toEqual(whole);
        },
      ),
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
  });

  test('random bytes never throw and the buffer stays bounded', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 20 }), (chunks) => {
        const parser = new AsciiParser(limits);
        for (const c of chunks) {
          parser.push(Buffer.from(c));
          expect(parser.bufferedBytes()).toBeLessThanOrEqual(Math.max(MAX_VALUE + 2, limits.maxGetLineBytes));
        }
      }),
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
  });
});
