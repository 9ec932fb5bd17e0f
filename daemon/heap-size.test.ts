/** daemon/heap-size: the node option for V8's old generation follows -m, never below its floor. */
import { heapOptions, memoryLimitMbOf, oldSpaceOption } from './heap-size';

test('the old generation starts at the item memory plus 64 MB, at least 128 MB', () => {
  expect(oldSpaceOption(64)).toBe('--initial-old-space-size=128');
  expect(oldSpaceOption(16)).toBe('--initial-old-space-size=128');
  expect(oldSpaceOption(1024)).toBe('--initial-old-space-size=1088');
  expect(oldSpaceOption(100.5)).toBe('--initial-old-space-size=165');
});

test('the daemon is started with the old generation sized for -m and a 32 MB semi-space', () => {
  expect(heapOptions(64)).toEqual(['--initial-old-space-size=128', '--max-semi-space-size=32']);
  expect(heapOptions(1024)).toEqual(['--initial-old-space-size=1088', '--max-semi-space-size=32']);
});

test('-m is read from daemon arguments in each spelling, memcached\'s 64 when absent', () => {
  expect(memoryLimitMbOf([])).toBe(64);
  expect(memoryLimitMbOf(['-p', '11211'])).toBe(64);
  expect(memoryLimitMbOf(['-m', '512'])).toBe(512);
  expect(memoryLimitMbOf(['-m512'])).toBe(512);
  expect(memoryLimitMbOf(['--memory-limit', '2048', '-c', '10'])).toBe(2048);
  expect(memoryLimitMbOf(['--memory-limit=300'])).toBe(300);
});
