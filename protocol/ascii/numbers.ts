/**
 * memcached's number parsing (util.c safe_strto*), reproduced on a 64-bit host so that odd inputs
 * get the same verdicts: leading C whitespace and a sign are accepted, the token must end at a NUL
 * or a whitespace character, out-of-range values fail (ERANGE), and the 32-bit variants truncate
 * a 64-bit result exactly as the C assignment does.
 */

const U64_MOD = 1n << 64n;
const U64_MAX = U64_MOD - 1n;
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** C isspace() in the "C" locale. */
export function isCSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

interface CNumber {
  negative: boolean;
  magnitude: bigint;
  /** The token held a '-' anywhere (memcached checks with strchr over the whole token). */
  hasMinus: boolean;
}

/** strto(u)l's scan: whitespace, sign, decimal digits, then only whitespace may follow. */
function scan(token: string): CNumber | undefined {
  let i = 0;
  while (i < token.length && isCSpace(token.charCodeAt(i))) i++;
  let negative = false;
  if (token[i] === '+' || token[i] === '-') {
    negative = token[i] === '-';
    i++;
  }
  const digitsStart = i;
  while (i < token.length && token.charCodeAt(i) >= 0x30 && token.charCodeAt(i) <= 0x39) i++;
  if (i === digitsStart) return undefined;
  if (i < token.length && !isCSpace(token.charCodeAt(i))) return undefined;
  return { negative, magnitude: BigInt(token.slice(digitsStart, i)), hasMinus: token.includes('-') };
}

/** Fast path for the common case: a short run of plain digits. */
function plainSmall(token: string): number | undefined {
  if (token.length === 0 || token.length > 15) return undefined;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return Number(token);
}

/** safe_strtoull: unsigned 64-bit. */
export function safeStrtoull(token: string): bigint | undefined {
  const fast = plainSmall(token);
  if (fast !== undefined) return BigInt(fast);
  const n = scan(token);
  if (!n || n.magnitude > U64_MAX) return undefined;
  const value = n.negative ? (U64_MOD - n.magnitude) % U64_MOD : n.magnitude;
  if (value > I64_MAX && n.hasMinus) return undefined;
  return value;
}

/** safe_strtoul: parsed as unsigned long (64-bit), stored into a uint32_t. */
export function safeStrtoul(token: string): number | undefined {
  const fast = plainSmall(token);
  if (fast !== undefined) return fast % 2 ** 32;
  const v = safeStrtoull(token);
  return v === undefined ? undefined : Number(v & 0xffffffffn);
}

/** safe_strtol: parsed as long (64-bit), stored into an int32_t. */
export function safeStrtol(token: string): number | undefined {
  const fast = plainSmall(token);
  if (fast !== undefined) return fast | 0;
  const n = scan(token);
  if (!n) return undefined;
  const value = n.negative ? -n.magnitude : n.magnitude;
  if (value > I64_MAX || value < I64_MIN) return undefined;
  return Number(BigInt.asIntN(32, value));
}
