/** The chaos harness's pure parts: reply parsing, the fault rounds, the report's pass rule. */
import { FAULT_KINDS, FaultKind, nextKind } from '../../loadgen/chaos/faults';
import { parseValueReply } from '../../loadgen/chaos/text-client';
import { makeRng } from '../../loadgen/rng';

test('get/gets replies parse to value and CAS unique; anything else throws', () => {
  expect(parseValueReply('END\r\n')).toBeNull();
  expect(parseValueReply('VALUE k 0 3\r\nabc\r\nEND\r\n')).toEqual({ value: 'abc', cas: null });
  expect(parseValueReply('VALUE k 0 7 42\r\n1000000\r\nEND\r\n')).toEqual({ value: '1000000', cas: '42' });
  expect(() => parseValueReply('SERVER_ERROR out of memory\r\n')).toThrow();
  expect(() => parseValueReply('VALUE k 0 5\r\nabc\r\nEND\r\n')).toThrow();
});

test('every round of faults holds each kind once, in a seeded order', () => {
  const seed = 12345;
  const rng = makeRng(seed);
  const round: FaultKind[] = [];
  const seen = Array.from({ length: 5 * FAULT_KINDS.length }, () => nextKind(rng, round));
  for (let r = 0; r < 5; r++) expect([...seen.slice(r * 3, r * 3 + 3)].sort()).toEqual([...FAULT_KINDS].sort());
  const again = makeRng(seed);
  const round2: FaultKind[] = [];
  expect(Array.from({ length: seen.length }, () => nextKind(again, round2))).toEqual(seen);
});
