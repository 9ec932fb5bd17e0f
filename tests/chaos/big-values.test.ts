import { bigValue, bigValueText, recordedValue } from '../../loadgen/chaos/big-values';

// The chaos history keeps big values compact; what a read returns must map to the same compact
// form only when it is byte for byte the value written, so a torn or spliced value is a violation.
test('a big value is recorded compactly only when intact', () => {
  const a = bigValueText('94517000000', 10_000);
  const b = bigValueText('95000000000', 10_000);
  expect(a).toHaveLength(10_000);
  expect(recordedValue(a)).toBe('94517000000.big10000');
  // What a client records when it writes the value is what the check makes of it when read back.
  expect(bigValue('94517000000', 10_000)).toEqual({ text: a, recorded: recordedValue(a) });
  // Parts of two values spliced at a slot boundary: neither value.
  const spliced = a.slice(0, 4072) + b.slice(4072);
  expect(recordedValue(spliced)).toBe(spliced);
  // Cut short: another length, so not the value written.
  expect(recordedValue(a.slice(0, 8144))).toBe('94517000000.big8144');
  // One byte changed in the middle.
  const flipped = a.slice(0, 5000) + (a[5000] === '0' ? '1' : '0') + a.slice(5001);
  expect(recordedValue(flipped)).toBe(flipped);
  // Small values and incr results pass unchanged.
  expect(recordedValue('95000000000')).toBe('95000000000');
  expect(recordedValue('95000000007')).toBe('95000000007');
});
