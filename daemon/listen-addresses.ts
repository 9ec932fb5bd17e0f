/**
 * memcached's -l: the interfaces to listen on. Each -l may name several, separated by commas, and
 * -l may be given several times; an interface is a host (IPv4, IPv6 or a name) or host:port, an
 * IPv6 address with a port in brackets ([::1]:11211). One without a port listens on -p.
 * memcached's `notls:` prefix (one listener without TLS under -Z) is refused by name.
 */

export interface ListenAddress {
  host: string;
  /** Undefined: the -p port. */
  port?: number;
}

/** Thrown for an -l value that names no interface memcached would listen on. */
export class ListenAddressError extends Error {}

function parsePort(text: string, entry: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new ListenAddressError(`-l ${entry} names port "${text}": a port is a number from 0 to 65535`);
  return Number(text);
}

function parseOne(entry: string): ListenAddress {
  if (entry === '') throw new ListenAddressError('-l: an empty interface name (two commas in a row, or one at an end)');
  if (entry.startsWith('notls:')) throw new ListenAddressError(`-l ${entry}: the notls: prefix (a listener without TLS under -Z) is not supported`);
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (bracketed !== null) return bracketed[2] === undefined ? { host: bracketed[1] } : { host: bracketed[1], port: parsePort(bracketed[2], entry) };
  const colons = entry.split(':').length - 1;
  // Two or more colons without brackets: an IPv6 address alone (its last group is no port).
  if (colons !== 1) return { host: entry };
  const [host, port] = entry.split(':');
  if (host === '') throw new ListenAddressError(`-l ${entry}: no host before the port`);
  return { host, port: parsePort(port, entry) };
}

/** The interfaces of every -l value, in order, duplicates (same host and port) once. */
export function parseListenAddresses(values: readonly string[]): ListenAddress[] {
  const out: ListenAddress[] = [];
  for (const value of values) {
    for (const entry of value.split(',')) {
      const address = parseOne(entry.trim());
      if (!out.some((a) => a.host === address.host && a.port === address.port)) out.push(address);
    }
  }
  return out;
}
