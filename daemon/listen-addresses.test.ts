/** memcached's -l forms: lists, repeats, host:port, bracketed IPv6 with a port, and what is refused. */
import { ListenAddressError, parseListenAddresses } from './listen-addresses';

it('reads every form memcached takes', () => {
  expect(parseListenAddresses(['127.0.0.1'])).toEqual([{ host: '127.0.0.1' }]);
  expect(parseListenAddresses(['127.0.0.1,::1', '10.0.0.1:11311'])).toEqual([
    { host: '127.0.0.1' }, { host: '::1' }, { host: '10.0.0.1', port: 11311 },
  ]);
  expect(parseListenAddresses(['[::1]:11212,[fe80::1],cache.example:0'])).toEqual([
    { host: '::1', port: 11212 }, { host: 'fe80::1' }, { host: 'cache.example', port: 0 },
  ]);
  // An IPv6 address alone: its last group is no port.
  expect(parseListenAddresses(['::1', '2001:db8::11211'])).toEqual([{ host: '::1' }, { host: '2001:db8::11211' }]);
  // The same interface twice is listened on once.
  expect(parseListenAddresses(['127.0.0.1', '127.0.0.1, ::1'])).toEqual([{ host: '127.0.0.1' }, { host: '::1' }]);
});

it('refuses what names no interface, saying which', () => {
  const refusal = (value: string): string => {
    try {
      parseListenAddresses([value]);
    } catch (err) {
      expect(err).toBeInstanceOf(ListenAddressError);
      return (err as Error).message;
    }
    throw new Error(`${value} was accepted`);
  };
  expect(refusal('127.0.0.1:70000')).toBe('-l 127.0.0.1:70000 names port "70000": a port is a number from 0 to 65535');
  expect(refusal('127.0.0.1:')).toBe('-l 127.0.0.1: names port "": a port is a number from 0 to 65535');
  expect(refusal('[::1]:x')).toBe('-l [::1]:x names port "x": a port is a number from 0 to 65535');
  expect(refusal(':11211')).toBe('-l :11211: no host before the port');
  expect(refusal('127.0.0.1,,::1')).toBe('-l: an empty interface name (two commas in a row, or one at an end)');
  expect(refusal('notls:127.0.0.1')).toBe('-l notls:127.0.0.1: the notls: prefix (a listener without TLS under -Z) is not supported');
});
