/**
 * The pure parts of -S: the password file, the PLAIN message, the per-connection exchange, and the
 * binary handler behind its SASL gate (in process, no sockets). The wire bytes are checked against
 * memcached 1.6.18 in tests/integration/sasl.test.ts; here the focus is framing: the gate and the
 * parser must agree on every frame boundary, however the stream is split into chunks.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeContext, RecordingSink } from '../../tests/helpers/handler-context';
import { Rng, seedFromEnv } from '../../tests/helpers/rng';
import { createBinaryHandler } from '../handlers/binary';
import { Logger } from '../log';
import { PasswordDb } from './password-db';
import { parsePlain } from './plain';
import { SaslSession } from './session';
import { PWDB_ENV, saslFromArgs } from './settings';

const db = PasswordDb.parse(Buffer.from('alice:secret\nbob:pw:extra tokens\r\n\ncarol:\nalice:other\n'), 'test');

describe('PasswordDb (memcached MEMCACHED_SASL_PWDB format)', () => {
  test('user:password lines; extra :tokens and CR ignored; the first line of a user decides', () => {
    expect(db.userCount).toBe(3);
    expect(db.verify(Buffer.from('alice'), Buffer.from('secret'))).toBe(true);
    expect(db.verify(Buffer.from('alice'), Buffer.from('other'))).toBe(false);
    expect(db.verify(Buffer.from('bob'), Buffer.from('pw'))).toBe(true);
    expect(db.verify(Buffer.from('bob'), Buffer.from('pw:extra tokens'))).toBe(false);
    expect(db.verify(Buffer.from('carol'), Buffer.alloc(0))).toBe(true);
    expect(db.verify(Buffer.from('carol'), Buffer.from('x'))).toBe(false);
    expect(db.verify(Buffer.from('dave'), Buffer.from('secret'))).toBe(false);
    expect(db.verify(Buffer.from('alic'), Buffer.from('secret'))).toBe(false);
    expect(db.verify(Buffer.from('alice'), Buffer.from('secre'))).toBe(false);
    expect(db.verify(Buffer.from('alice'), Buffer.from('secret\0'))).toBe(false);
  });

  test('an empty file, a line without user:, or a missing file is refused with the file named', () => {
    expect(() => PasswordDb.parse(Buffer.from('\n\r\n'), '/etc/pw')).toThrow('SASL password file /etc/pw holds no user:password line');
    expect(() => PasswordDb.parse(Buffer.from('alice:x\njustaname\n'), '/etc/pw')).toThrow('/etc/pw, line 2: expected user:password');
    expect(() => PasswordDb.parse(Buffer.from(':nouser\n'), '/etc/pw')).toThrow('line 1');
    const missing = path.join(os.tmpdir(), `mucached-no-such-pwdb-${process.pid}`);
    expect(() => PasswordDb.load(missing)).toThrow(`SASL password file ${missing} cannot be read (ENOENT)`);
  });

  test('saslFromArgs: --sasl-pwdb wins over the environment; -S without a file is an error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-sasl-unit-'));
    try {
      const file = path.join(dir, 'pw');
      fs.writeFileSync(file, 'u:p\n');
      const lines: string[] = [];
      const log = new Logger(0, (l) => lines.push(l));
      expect(saslFromArgs({ S: false, 'sasl-pwdb': file }, {}, log)).toBeUndefined();
      expect(saslFromArgs({ S: true }, { [PWDB_ENV]: file }, log)?.passwords.userCount).toBe(1);
      expect(saslFromArgs({ S: true, 'sasl-pwdb': file }, { [PWDB_ENV]: path.join(dir, 'nope') }, log)?.passwords.userCount).toBe(1);
      expect(() => saslFromArgs({ S: true }, {}, log)).toThrow(`--sasl-pwdb FILE or set ${PWDB_ENV}`);
      expect(() => saslFromArgs({ S: true }, { [PWDB_ENV]: path.join(dir, 'nope') }, log)).toThrow(path.join(dir, 'nope'));
      expect(lines.join('')).toContain(`from ${file}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PLAIN message and exchange', () => {
  test('authzid NUL authcid NUL password, exactly', () => {
    expect(parsePlain(Buffer.from('\0alice\0secret'))).toMatchObject({ ok: true, authcid: Buffer.from('alice'), password: Buffer.from('secret') });
    expect(parsePlain(Buffer.from('alice\0alice\0secret'))).toMatchObject({ ok: true, authzid: Buffer.from('alice') });
    expect(parsePlain(Buffer.from('\0alice\0'))).toMatchObject({ ok: true, password: Buffer.alloc(0) });
    for (const bad of ['alicesecret', 'alice\0secret', '\0alice\0secret\0', '\0\0secret', '']) {
      expect(parsePlain(Buffer.from(bad))).toMatchObject({ ok: false });
    }
  });

  test('start/step as memcached with Cyrus: empty start continues, a step completes it; each SASL command starts over', () => {
    const s = new SaslSession(db);
    expect(s.step(Buffer.from('\0alice\0secret'))).toMatchObject({ result: 'fail' });
    expect(s.start('CRAM-MD5', Buffer.from('\0alice\0secret'))).toMatchObject({ result: 'fail' });
    expect(s.start('PLAIN', Buffer.from('bob\0alice\0secret'))).toMatchObject({ result: 'fail', user: 'alice' });
    expect(s.start('PLAIN', Buffer.alloc(0))).toEqual({ result: 'continue' });
    expect(s.authenticated).toBe(false);
    expect(s.step(Buffer.from('\0alice\0secret'))).toEqual({ result: 'ok', user: 'alice' });
    expect(s.authenticated).toBe(true);
    expect(s.step(Buffer.from('\0alice\0secret'))).toMatchObject({ result: 'fail' });
    expect(s.authenticated).toBe(false);
    expect(s.start('plain', Buffer.from('\0alice\0secret'))).toMatchObject({ result: 'ok' });
    expect(s.start('plain', Buffer.from('\0alice\0wrong'))).toMatchObject({ result: 'fail', reason: 'wrong user or password' });
    expect(s.authenticated).toBe(false);
    expect(s.start('PLAIN', Buffer.from('\0bob\0pw'))).toEqual({ result: 'ok', user: 'bob' });
    expect(s.listMechanisms()).toBe('PLAIN');
    expect(s.authenticated).toBe(false);
  });

  test('failure reasons never carry the password', () => {
    const s = new SaslSession(db);
    const outcomes = [
      s.start('PLAIN', Buffer.from('\0alice\0hunter2')), s.start('PLAIN', Buffer.from('x\0alice\0hunter2')),
      s.start('PLAIN', Buffer.from('hunter2')), s.start('PLAIN', Buffer.from('\0hunter2\0hunter2\0')),
    ];
    for (const o of outcomes) expect(JSON.stringify(o)).not.toContain('hunter2');
  });
});

// ---- the binary handler under -S ----

const Op = { get: 0x00, set: 0x01, incr: 0x05, quit: 0x07, getq: 0x09, noop: 0x0a, version: 0x0b, append: 0x0e, touch: 0x1c, list: 0x20, auth: 0x21, step: 0x22 };

/** A request frame, written here independently of protocol/ (bodyBytes may lie, on purpose). */
function frame(opcode: number, f: { key?: string | Buffer; extras?: Buffer; value?: string | Buffer; opaque?: number; bodyBytes?: number } = {}): Buffer {
  const key = Buffer.from(f.key ?? '');
  const extras = f.extras ?? Buffer.alloc(0);
  const value = Buffer.from(f.value ?? '');
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(f.bodyBytes ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE(f.opaque ?? 0, 12);
  return Buffer.concat([h, extras, key, value]);
}

const setExtras = Buffer.from('0000000a00000000', 'hex');
const touchExtras = Buffer.from('00000064', 'hex');
const arithExtras = Buffer.concat([Buffer.from('0000000000000002', 'hex'), Buffer.from('0000000000000005', 'hex'), Buffer.alloc(4)]);
const AUTH_OK = frame(Op.auth, { key: 'PLAIN', value: '\0alice\0secret', opaque: 1 });

function saslHandler(logLines: string[] = []) {
  const { ctx } = makeContext();
  ctx.sasl = { passwords: db, log: new Logger(1, (l) => logLines.push(l)) };
  const sink = new RecordingSink();
  return { ctx, sink, handler: createBinaryHandler(ctx, sink) };
}

function plainHandler() {
  const { ctx } = makeContext();
  const sink = new RecordingSink();
  return { ctx, sink, handler: createBinaryHandler(ctx, sink) };
}

/** Replies as [opcode, status, opaque, body] tuples (CAS left out: it is checked elsewhere). */
function packets(bytes: Buffer): Array<[number, number, number, string]> {
  const out: Array<[number, number, number, string]> = [];
  for (let at = 0; at + 24 <= bytes.length;) {
    const body = bytes.readUInt32BE(at + 8);
    out.push([bytes[at + 1], bytes.readUInt16BE(at + 6), bytes.readUInt32BE(at + 12), bytes.subarray(at + 24, at + 24 + body).toString('latin1')]);
    at += 24 + body;
  }
  return out;
}

function feed(handler: { onData(b: Buffer): void }, stream: Buffer, rng?: Rng): void {
  if (!rng) return handler.onData(stream);
  for (let at = 0; at < stream.length;) {
    const n = Math.min(stream.length - at, rng.chance(0.2) ? 1 : rng.range(1, 64));
    handler.onData(stream.subarray(at, at + n));
    at += n;
  }
}

describe('binary handler behind the SASL gate', () => {
  test('before auth: list mechs, version, then any other opcode gets Auth failure and the stream ends', async () => {
    const { sink, handler } = saslHandler();
    feed(handler, Buffer.concat([frame(Op.list, { opaque: 7 }), frame(Op.version, { opaque: 8 }), frame(Op.getq, { key: 'k', opaque: 9 }), frame(Op.noop, { opaque: 10 })]));
    const got = packets(await sink.settled());
    expect(got.map(([op, st, opq]) => [op, st, opq])).toEqual([[Op.list, 0, 7], [Op.version, 0, 8], [Op.getq, 0x20, 9]]);
    expect(got[0][3]).toBe('PLAIN');
    expect(got[2][3]).toBe('Auth failure.');
    expect(sink.closeReason).toBeDefined();
    expect(sink.lateReplies).toBe(0);
  });

  test('the gate answers before length checks (memcached order) and reads nothing of a refused store', async () => {
    const { sink, handler } = saslHandler();
    // A get with extras is EINVAL once authenticated; before auth it is Auth failure.
    feed(handler, frame(Op.get, { key: 'k', extras: Buffer.alloc(4) }));
    expect(packets(await sink.settled())).toEqual([[Op.get, 0x20, 0, 'Auth failure.']]);
    const second = saslHandler();
    // A 2 MB store announced: refused at its head, its value never buffered.
    second.handler.onData(frame(Op.set, { key: 'k', extras: setExtras, bodyBytes: 8 + 1 + 2 * 1024 * 1024 }));
    expect(packets(await second.sink.settled())[0][1]).toBe(0x20);
    expect(second.handler.bufferedBytes()).toBe(0);
  });

  test('auth failures count and log at -v without the password; success unlocks the connection', async () => {
    const logLines: string[] = [];
    const { ctx, sink, handler } = saslHandler(logLines);
    feed(handler, Buffer.concat([
      frame(Op.auth, { key: 'PLAIN', value: '\0alice\0hunter2', opaque: 1 }),
      frame(Op.step, { key: 'PLAIN', value: 'x', opaque: 2 }),
      frame(Op.auth, { key: 'PLAIN', value: '', opaque: 3 }),
      frame(Op.step, { key: 'PLAIN', value: '\0alice\0secret', opaque: 4 }),
      frame(Op.set, { key: 'k', extras: setExtras, value: 'v', opaque: 5 }),
      frame(Op.get, { key: 'k', opaque: 6 }),
    ]));
    const got = packets(await sink.settled());
    expect(got.map(([op, st, opq]) => [op, st, opq])).toEqual([[Op.auth, 0x20, 1], [Op.step, 0x20, 2], [Op.auth, 0x21, 3], [Op.step, 0, 4], [Op.set, 0, 5], [Op.get, 0, 6]]);
    expect(got[3][3]).toBe('Authenticated');
    expect(got[5][3]).toBe('\0\0\0\x0av');
    expect([ctx.counters.auth_cmds, ctx.counters.auth_errors]).toEqual([3, 2]);
    expect(logLines.join('')).toContain('authentication failed for user <alice>');
    expect(logLines.join('')).not.toContain('hunter2');
    expect(sink.closeReason).toBeUndefined();
  });

  test('malformed SASL frames: EINVAL and close, or EINVAL/ENOMEM with the data skipped', async () => {
    const cases: Array<[Buffer, number, boolean]> = [
      [frame(Op.auth, { key: '', value: '\0a\0b' }), 0x04, true],
      [frame(Op.auth, { key: 'PLAIN', extras: Buffer.alloc(4), value: '\0a\0b' }), 0x04, true],
      [frame(Op.list, { key: 'x' }), 0x04, true],
      [frame(Op.auth, { key: 'X'.repeat(251), value: 'v' }), 0x04, true],
      [frame(Op.auth, { key: 'P'.repeat(33), value: '\0alice\0secret' }), 0x04, false],
      [frame(Op.auth, { key: 'PLAIN', value: Buffer.alloc(1024 * 1024 + 1, 1) }), 0x82, false],
      [frame(Op.auth, { key: 'PLAIN', bodyBytes: 0xffffffff }), 0x82, false],
    ];
    for (const [bytes, status, closes] of cases) {
      const { sink, handler } = saslHandler();
      feed(handler, Buffer.concat([bytes, frame(Op.version, { opaque: 99 })]));
      const got = packets(await sink.settled());
      expect(got[0][1]).toBe(status);
      // Not closed: the data was skipped and the version after it is answered (bodyBytes 2^32-1
      // is a negative int in memcached: nothing is skipped, the version follows at once).
      expect(got.length).toBe(closes ? 1 : 2);
      expect(sink.closeReason !== undefined).toBe(closes);
    }
  });

  test('after auth the gate hands the parser exactly its frames: same replies as without -S, any chunking', async () => {
    const seed = seedFromEnv('SASL_SEED');
    const embeddedNoop = frame(Op.noop, { opaque: 77 });
    const rest = Buffer.concat([
      frame(Op.set, { key: 'a', extras: setExtras, value: 'x'.repeat(300), opaque: 10 }),
      frame(Op.getq, { key: 'missing', opaque: 11 }),
      frame(Op.incr, { key: 'n', extras: arithExtras, opaque: 12 }),
      // touch whose announced body also holds a whole noop: memcached parses it as the next request
      frame(Op.touch, { key: 'a', extras: touchExtras, bodyBytes: 4 + 1 + embeddedNoop.length, opaque: 13 }), embeddedNoop,
      frame(Op.list, { opaque: 100 }), AUTH_OK,
      // a store over the item size: refused, its value skipped
      frame(Op.set, { key: 'big', extras: setExtras, value: Buffer.alloc(1024 * 1024 + 10, 2), opaque: 14 }),
      frame(Op.list, { opaque: 101 }), AUTH_OK,
      // an unknown opcode: its body skipped (memcached skips the whole body after the key too,
      // so with no key the frame ends where it should)
      frame(0x50, { value: 'skip me', opaque: 15 }),
      frame(Op.list, { opaque: 102 }), AUTH_OK,
      frame(Op.append, { key: 'a', value: '!', opaque: 16 }),
      frame(Op.get, { key: 'a', opaque: 17 }),
      frame(Op.quit, { opaque: 18 }),
      frame(Op.get, { key: 'a', opaque: 19 }),
    ]);
    const reference = plainHandler();
    feed(reference.handler, rest);
    // The reference answers list-mechs and auth as unknown commands; behind the gate they must be
    // answered (which proves the gate still sees every head after the frames the parser skips
    // through). A list-mechs drops the access, as in memcached, so an auth follows each.
    const expected = packets(await reference.sink.settled()).map((p): [number, number, number, string] => {
      if (p[0] === Op.list) return [Op.list, 0, p[2], 'PLAIN'];
      return p[0] === Op.auth ? [Op.auth, 0, p[2], 'Authenticated'] : p;
    });
    expect(expected.map((p) => p[2])).toEqual([10, 12, 13, 77, 100, 1, 14, 101, 1, 15, 102, 1, 16, 17, 18]);
    for (let round = 0; round < 20; round++) {
      const rng = round === 0 ? undefined : new Rng(seed + round);
      const { sink, handler } = saslHandler();
      try {
        feed(handler, Buffer.concat([AUTH_OK, rest]), rng);
        const got = packets(await sink.settled());
        expect(got[0]).toEqual([Op.auth, 0, 1, 'Authenticated']);
        expect(got.slice(1)).toEqual(expected);
        expect(sink.closeReason).toBeDefined();
        expect(handler.bufferedBytes()).toBe(0);
      } catch (err) {
        throw new Error(`chunking seed ${rng ? seed + round : 'none (one chunk)'} (SASL_SEED=${seed}): ${(err as Error).message}`);
      }
    }
  });

  test('a bad magic byte, before or after auth, ends the stream without a reply (as the parser does)', async () => {
    const badMagic = Buffer.from(frame(Op.noop));
    badMagic[0] = 0x81;
    for (const prefix of [[], [AUTH_OK]]) {
      const { sink, handler } = saslHandler();
      feed(handler, Buffer.concat([...prefix, frame(Op.version, { opaque: 3 }), badMagic, frame(Op.noop)]));
      expect(packets(await sink.settled()).map((p) => p[2])).toEqual([...prefix.map(() => 1), 3]);
      expect(sink.closeReason).toContain('invalid magic');
    }
  });

  test('without -S the SASL opcodes stay unknown commands', async () => {
    const { sink, handler } = plainHandler();
    feed(handler, Buffer.concat([frame(Op.list), AUTH_OK, frame(Op.noop)]));
    expect(packets(await sink.settled()).map((p) => p[1])).toEqual([0x81, 0x81, 0]);
  });
});
