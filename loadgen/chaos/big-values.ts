/**
 * Values larger than a log slot for the chaos clients, so that fail-overs hit entries the leader
 * writes in several parts (mu-core layout.ts). A big value is its unique number, a dot, then that
 * number repeated up to the size: a value assembled from parts of two writes, or cut short, no
 * longer matches its own number. The history records the compact form `<unique>.big<bytes>`; a read
 * that does not match the pattern exactly is recorded as it came, so the checker sees a value
 * nobody wrote.
 */
export function bigValueText(unique: string, bytes: number): string {
  const head = `${unique}.`;
  if (bytes <= head.length) return head;
  const fill = `${unique}-`.repeat(Math.ceil((bytes - head.length) / (unique.length + 1)));
  return head + fill.slice(0, bytes - head.length);
}

/** The form a value takes in the history: compact for an intact big value, else unchanged. */
export function recordedValue(text: string): string {
  const m = /^(\d+)\./.exec(text);
  if (m === null || text.length < 64) return text;
  return text === bigValueText(m[1], text.length) ? `${m[1]}.big${text.length}` : text;
}
