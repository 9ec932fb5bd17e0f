/**
 * Seeded randomness for tests (sfc32): the same seed gives the same sequence on every machine, so
 * a failure is replayed by passing its printed seed back in.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next32();
  }

  /** Uniform 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next32() / 0x1_0000_0000) * n);
  }

  /** Integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Pick by weight: entries are [weight, value]. */
  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((s, [w]) => s + w, 0);
    let x = this.next32() / 0x1_0000_0000 * total;
    for (const [w, v] of entries) {
      if (x < w) return v;
      x -= w;
    }
    return entries[entries.length - 1][1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.next32() & 0xff;
    return out;
  }

  /** n characters drawn from `alphabet`. */
  text(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** 64-bit unsigned. */
  u64(): bigint {
    return (BigInt(this.next32()) << 32n) | BigInt(this.next32());
  }
}

/** A seed from the environment variable `name` if set (decimal), else a fresh one. */
export function seedFromEnv(name: string, fallback?: number): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${name}=${raw}: want an integer 0..2^32-1`);
    return n;
  }
  if (fallback !== undefined) return fallback;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
