/**
 * Values larger than a log slot for the chaos clients, so that fail-overs hit entries the leader
 * writes in several parts (mu-core layout.ts). A big value is its unique number, a dot, then that
 * number repeated up to the size: a value assembled from parts of two writes, or cut short, no
 * longer matches its own number. The history records the compact form `<unique>.big<bytes>`; a read
 * that does not match the pattern exactly is recorded as it came, so the checker sees a value
 * nobody wrote.
 */
import { parseValueReply } from './text-client';

/** Shorter values are recorded as they are (small values and incr results never reach this). */
const MIN_BIG_BYTES = 64;

export function bigValueText(unique: string, bytes: number): string {
  const head = `${unique}.`;
  if (bytes <= head.length) return head;
  const fill = `${unique}-`.repeat(Math.ceil((bytes - head.length) / (unique.length + 1)));
  return head + fill.slice(0, bytes - head.length);
}

/** The form an intact big value of `text.length` bytes takes in the history. */
function compactForm(unique: string, text: string): string {
  return text.length < MIN_BIG_BYTES ? text : `${unique}.big${text.length}`;
}

/** A new big value: the text to send and its form in the history (no re-check of what was just built). */
export function bigValue(unique: string, bytes: number): { text: string; recorded: string } {
  const text = bigValueText(unique, bytes);
  return { text, recorded: compactForm(unique, text) };
}

/** The form a value read back takes in the history: compact for an intact big value, else unchanged. */
export function recordedValue(text: string): string {
  const m = /^(\d+)\./.exec(text);
  if (m === null || text.length < MIN_BIG_BYTES) return text;
  return text === bigValueText(m[1], text.length) ? compactForm(m[1], text) : text;
}

/** A get or gets reply as the history records it (parseValueReply, big values compacted). */
export function parseRecordedValue(reply: string): { value: string; cas: string | null } | null {
  const v = parseValueReply(reply);
  return v === null ? null : { value: recordedValue(v.value), cas: v.cas };
}
