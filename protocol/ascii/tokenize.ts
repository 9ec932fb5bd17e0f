/**
 * memcached's tokenize_command(): split a command line on single spaces (only ' ', never tabs),
 * skipping empty tokens. The line is a latin1 string so one char is one byte.
 *
 * memcached stops after MAX_TOKENS-1 = 23 tokens and leaves the rest unparsed; `ntokens` below
 * counts like memcached (the real tokens plus its terminal token), because every arity check in
 * memcached is written against that number. Words past the 23rd are not returned (multi-key gets
 * use splitAllWords).
 */
export const MAX_TOKENS = 24;

export interface Tokens {
  words: string[];
  /** memcached's ntokens: words.length + 1. */
  ntokens: number;
}

export function tokenize(line: string, maxTokens = MAX_TOKENS): Tokens {
  const words: string[] = [];
  let start = 0;
  let i = 0;
  for (; i < line.length; i++) {
    if (line.charCodeAt(i) !== 0x20) continue;
    if (i > start) {
      words.push(line.slice(start, i));
      if (words.length === maxTokens - 1) break;
    }
    start = i + 1;
  }
  if (words.length < maxTokens - 1 && start < line.length) words.push(line.slice(start));
  return { words, ntokens: words.length + 1 };
}

/** All the keys of a multi-key line, following memcached's 23-token windows (same result). */
export function splitAllWords(line: string): string[] {
  return line.split(' ').filter((w) => w.length > 0);
}
