import { MAX_PREFIXES, PrefixStats } from './prefix-stats';

const key = (s: string) => Buffer.from(s, 'latin1');

describe('PrefixStats', () => {
  test('records nothing while off, and nothing for a key without the delimiter', () => {
    const stats = new PrefixStats();
    stats.recordSet(key('a:1'));
    expect(stats.dump()).toBe('END\r\n');
    stats.enabled = true;
    stats.recordGet(key('plain'), true);
    stats.recordGet(key('a:1'), true);
    stats.recordGet(key('a:2:3'), false);
    expect(stats.dump()).toBe('PREFIX a get 2 hit 1 set 0 del 0\r\nEND\r\n');
  });

  test('keeps at most MAX_PREFIXES prefixes, counting what it drops, and still counts the kept ones', () => {
    const stats = new PrefixStats('/');
    for (let i = 0; i < MAX_PREFIXES + 10; i++) stats.recordSet(key(`p${i}/k`));
    stats.recordDelete(key('p0/k'));
    expect(stats.droppedRecords).toBe(10);
    const lines = stats.dump().split('\r\n');
    expect(lines.length).toBe(MAX_PREFIXES + 2); // the prefixes, END, and the empty tail
    expect(lines[0]).toBe('PREFIX p0 get 0 hit 0 set 1 del 1');
    stats.reset();
    expect(stats.dump()).toBe('END\r\n');
  });
});
