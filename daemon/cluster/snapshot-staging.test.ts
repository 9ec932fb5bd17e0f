import type { Effect } from '../cache/effects';
import { SnapshotStaging } from './snapshot-staging';

const put = (k: string): Effect => ({
  kind: 'put', key: Buffer.from(k), value: Buffer.from(`v-${k}`), flags: 0, exptimeSec: 0, cas: 1n, storedAtSec: 0, stale: false, keyBinary: false,
});
const keys = (effects: Effect[]) => effects.map((e) => (e.kind === 'put' ? e.key.toString() : e.kind));

describe('snapshot staging', () => {
  it('installs nothing until the last part, then every part in order', () => {
    const s = new SnapshotStaging();
    expect(s.accept({ transfer: 'a', part: 0, effects: [put('1'), put('2')], index: 50, done: false }, 10)).toEqual({ kind: 'staged' });
    expect(s.accept({ transfer: 'a', part: 1, effects: [put('3')], index: 50, done: false }, 10)).toEqual({ kind: 'staged' });
    const out = s.accept({ transfer: 'a', part: 2, effects: [put('4')], index: 50, done: true }, 10);
    expect(out.kind).toBe('install');
    if (out.kind === 'install') {
      expect(out.index).toBe(50);
      expect(keys(out.effects)).toEqual(['1', '2', '3', '4']);
    }
  });

  it('outcome records of forwarded writes arrive in their own parts and are installed with the items', () => {
    const s = new SnapshotStaging();
    const record = (seq: number) => ({ tag: { origin: 2, session: 1, seq }, result: Buffer.from('{"status":"STORED"}'), index: 40 + seq });
    s.accept({ transfer: 'a', part: 0, effects: [put('1')], index: 50, done: false }, 10);
    s.accept({ transfer: 'a', part: 1, effects: [], outcomes: [record(1), record(2)], index: 50, done: false }, 10);
    const out = s.accept({ transfer: 'a', part: 2, effects: [], outcomes: [record(3)], index: 50, done: true }, 10);
    expect(out.kind === 'install' && out.outcomes.map((o) => o.tag.seq)).toEqual([1, 2, 3]);
    // An older sender's parts carry none.
    s.accept({ transfer: 'b', part: 0, effects: [put('1')], index: 60, done: false }, 10);
    const old = s.accept({ transfer: 'b', part: 1, effects: [put('2')], index: 60, done: true }, 10);
    expect(old.kind === 'install' && old.outcomes).toEqual([]);
  });

  it('two overlapping transfers never mix: the newer one wins, the older one is refused', () => {
    const s = new SnapshotStaging();
    s.accept({ transfer: 'old', part: 0, effects: [put('old-1')], index: 40, done: false }, 10);
    s.accept({ transfer: 'new', part: 0, effects: [put('new-1')], index: 41, done: false }, 10);
    expect(() => s.accept({ transfer: 'old', part: 1, effects: [put('old-2')], index: 40, done: true }, 10)).toThrow(/superseded/);
    const out = s.accept({ transfer: 'new', part: 1, effects: [put('new-2')], index: 41, done: true }, 10);
    expect(out.kind === 'install' && keys(out.effects)).toEqual(['new-1', 'new-2']);
  });

  it('refuses parts out of order and parts of no transfer', () => {
    const s = new SnapshotStaging();
    expect(() => s.accept({ transfer: 'x', part: 1, effects: [], index: 5, done: true }, 0)).toThrow(/out of order/);
    s.accept({ transfer: 'x', part: 0, effects: [put('a')], index: 5, done: false }, 0);
    expect(() => s.accept({ transfer: 'x', part: 2, effects: [], index: 5, done: true }, 0)).toThrow(/out of order/);
  });

  it('drops a complete snapshot that is not newer than what was already applied', () => {
    const s = new SnapshotStaging();
    expect(s.accept({ transfer: 't', part: 0, effects: [put('a')], index: 30, done: true }, 30)).toEqual({ kind: 'stale', index: 30 });
    const out = s.accept({ transfer: 'u', part: 0, effects: [put('a')], index: 31, done: true }, 30);
    expect(out.kind).toBe('install');
  });
});
