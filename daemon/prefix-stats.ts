/**
 * memcached's per-prefix statistics (`stats detail on|off|dump`, `-D <char>`): for keys holding the
 * delimiter, reads, hits, stores and deletes counted per prefix (the key up to its first delimiter).
 * Recorded where memcached records them: text get/gets/gat/gats, binary get and touch/gat (every
 * quiet and key form), text and binary stores (set/add/replace/append/prepend/cas, refused or not),
 * text and binary delete; never meta commands, incr/decr or text touch. Counts are this node's
 * clients' commands (in a cluster each node counts what it was sent, as each memcached server does).
 *
 * Differences from memcached, both deliberate: the dump lists prefixes in the order they were first
 * seen (memcached's follows its hash table), and at most MAX_PREFIXES are kept (memcached keeps
 * any number, so a client could grow its memory without bound through key names alone).
 */

export const MAX_PREFIXES = 100_000;
const DEFAULT_DELIMITER = ':';

interface PrefixCounts {
  get: number;
  hit: number;
  set: number;
  del: number;
}

export class PrefixStats {
  enabled: boolean;
  /** The delimiter's byte (memcached takes the first character of -D). */
  private readonly delimiterByte: number;
  private readonly byPrefix = new Map<string, PrefixCounts>();
  /** Records dropped because MAX_PREFIXES prefixes were already kept. */
  droppedRecords = 0;

  constructor(delimiter?: string) {
    this.enabled = delimiter !== undefined;
    this.delimiterByte = Buffer.from(delimiter ?? DEFAULT_DELIMITER, 'latin1')[0];
  }

  get delimiter(): string {
    return String.fromCharCode(this.delimiterByte);
  }

  recordGet(key: Buffer, hit: boolean): void {
    if (!this.enabled) return;
    const counts = this.countsFor(key);
    if (counts === undefined) return;
    counts.get++;
    if (hit) counts.hit++;
  }

  recordSet(key: Buffer): void {
    if (!this.enabled) return;
    const counts = this.countsFor(key);
    if (counts !== undefined) counts.set++;
  }

  recordDelete(key: Buffer): void {
    if (!this.enabled) return;
    const counts = this.countsFor(key);
    if (counts !== undefined) counts.del++;
  }

  /** `stats detail dump`'s text, END included. */
  dump(): string {
    let out = '';
    for (const [prefix, c] of this.byPrefix) out += `PREFIX ${prefix} get ${c.get} hit ${c.hit} set ${c.set} del ${c.del}\r\n`;
    return `${out}END\r\n`;
  }

  /** `stats reset`. */
  reset(): void {
    this.byPrefix.clear();
    this.droppedRecords = 0;
  }

  private countsFor(key: Buffer): PrefixCounts | undefined {
    const end = key.indexOf(this.delimiterByte);
    if (end < 0) return undefined; // no prefix: not recorded
    const prefix = key.toString('latin1', 0, end);
    let counts = this.byPrefix.get(prefix);
    if (counts === undefined) {
      if (this.byPrefix.size >= MAX_PREFIXES) {
        this.droppedRecords++;
        return undefined;
      }
      counts = { get: 0, hit: 0, set: 0, del: 0 };
      this.byPrefix.set(prefix, counts);
    }
    return counts;
  }
}
