import { safeStrtol, safeStrtoul, safeStrtoull } from './numbers';

// Verdicts observed from memcached 1.6.18 (set flags / exptime / length, incr delta).
describe('memcached number parsing', () => {
  test.each([
    ['0', 0], ['4294967295', 4294967295], ['4294967296', 0], ['+5', 5], ['-0', 0], ['5\t', 5], ['\t7', 7],
    ['01', 1], ['18446744073709551615', 4294967295],
  ])('strtoul %j -> %p', (token, expected) => {
    expect(safeStrtoul(token)).toBe(expected);
  });

  test.each(['-1', 'abc', '', '5x', '0x10', '18446744073709551616', '-4294967296', ' '])('strtoul rejects %j', (token) => {
    expect(safeStrtoul(token)).toBeUndefined();
  });

  test.each([
    ['0', 0], ['-1', -1], ['2147483648', -2147483648], ['-2147483649', 2147483647], ['4294967297', 1],
    ['9223372036854775807', -1],
  ])('strtol %j -> %p (truncated to int32)', (token, expected) => {
    expect(safeStrtol(token)).toBe(expected);
  });

  test.each(['9223372036854775808', 'x', '1.5', ''])('strtol rejects %j', (token) => {
    expect(safeStrtol(token)).toBeUndefined();
  });

  test('strtoull: full 64-bit range, small negatives wrap, large negatives fail', () => {
    expect(safeStrtoull('18446744073709551615')).toBe(18446744073709551615n);
    expect(safeStrtoull('18446744073709551616')).toBeUndefined();
    expect(safeStrtoull('-1')).toBeUndefined();
    // strtoull("-5") wraps to 2^64-5, which is "negative" as signed, so the '-' check rejects it.
    expect(safeStrtoull('-5')).toBeUndefined();
    expect(safeStrtoull('-9223372036854775809')).toBe(9223372036854775807n);
  });
});
