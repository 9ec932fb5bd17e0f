import { encodeBase64Key, decodeBase64Key } from './base64';
import { parseMetaFlags } from './meta-flags';

describe('meta flags (memcached 1.6.18 _meta_flag_preparse)', () => {
  test('values and request order are kept', () => {
    const r = parseMetaFlags('k', ['v', 'T30', 'N10', 'R5', 'F7', 'C99', 'MD', 'D3', 'J4', 'q', 'u', 'I', 'Oab', 'k']);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.key).toEqual(Buffer.from('k'));
    expect(r.flags).toMatchObject({
      value: true, touchExptime: 30, vivifyExptime: 10, recacheSec: 5, clientFlags: 7, compareCas: 99n,
      mode: 'D', delta: 3n, initial: 4n, quiet: true, noUpdate: true, invalidate: true,
    });
    expect(r.flags.tokens[12]).toBe('Oab');
  });

  test.each([
    [['v', 'v'], 'CLIENT_ERROR duplicate flag'],
    [['x'], 'CLIENT_ERROR invalid flag'],
    [['E5'], 'CLIENT_ERROR invalid flag'], // E is not a 1.6.18 flag
    [['Tabc'], 'CLIENT_ERROR bad token in command line format'],
    [['MXY'], 'CLIENT_ERROR incorrect length for M token'],
    [['D-1'], 'CLIENT_ERROR invalid numeric delta value'],
    [['Jx'], 'CLIENT_ERROR invalid numeric initial value'],
    [['Fx'], 'CLIENT_ERROR bad command line format'],
    [['Tx', 'Dx'], 'CLIENT_ERROR invalid numeric delta value'], // the last error wins
  ])('%j -> %s', (words, error) => {
    expect(parseMetaFlags('k', words)).toEqual({ ok: false, error });
  });

  test('b decodes the key strictly', () => {
    expect(parseMetaFlags('Zm9v', ['b'])).toMatchObject({ ok: true, key: Buffer.from('foo') });
    for (const bad of ['foo', 'Zm9v=', 'Zm9', '====', 'Zm!v']) {
      expect(parseMetaFlags(bad, ['b'])).toEqual({ ok: false, error: 'CLIENT_ERROR error decoding key' });
    }
    expect(decodeBase64Key(encodeBase64Key(Buffer.from([0, 1, 255])))).toEqual(Buffer.from([0, 1, 255]));
  });
});
