/**
 * One NDJSON line → one input item: shared by every NDJSON reader (the streaming one in input.ts, the
 * parsing workers of ndjson-parallel.ts, the latest-wins scan), so they number, parse and reject alike.
 * No imports: a parsing worker loads only this and rawjson.ts.
 */

/** One input item. `value` is the parsed JSON value; when the line was not valid JSON, `error` says why. */
export interface InputItem {
  /** `stdin:42` or `path/to/file.ndjson:42`: the line (NDJSON) or row (Arrow), 1-based. */
  where: string;
  /** Line or row number, 1-based. */
  line: number;
  value?: unknown;
  /** Set when the item could not be parsed; `text` then holds the offending line. */
  error?: string;
  text?: string;
  /** NDJSON input: the line's JSON text exactly as read (BOM and CR removed), for tools that pass it on unchanged. */
  json?: string;
  /**
   * Set when a parsing worker shaped `value` (see WorkerParse in ndjson-parallel.ts): only the fields asked
   * for, objects as RawJson, vectors as Float32Array. `json` then decodes the line when read (for a rejects
   * file: the record as it was is `JSON.parse(json)`).
   */
  shaped?: true;
}

/** What a line holds: its parsed value (and the text it came from), the reason it is bad, or nothing (blank). */
export type LineResult = { value: unknown; json: string } | { error: string; text: string } | undefined;

/**
 * Parse one NDJSON line (without its `\n`). `first`: the input's first line, which may start with a UTF-8
 * BOM. A trailing CR is dropped; a blank line gives undefined.
 */
export function parseLineText(text: string, first = false): LineResult {
  if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `invalid JSON: ${(err as Error).message}${ndjsonHint(text, first)}`, text };
  }
  // Deeper values would overflow the stack of every recursive step after this one (a crash, not a record).
  if (mayBeTooDeep(text) && tooDeep(value, MAX_DEPTH)) return { error: `nested deeper than ${MAX_DEPTH} levels`, text: text.slice(0, 200) + '…' };
  return { value, json: text };
}

/**
 * One NDJSON line (without its `\n`) → an item, or undefined for a blank line. `first`: the input's first
 * line, which may start with a UTF-8 BOM.
 */
export function parseNdjsonLine(text: string, name: string, line: number, first = false): InputItem | undefined {
  const r = parseLineText(text, first);
  if (r === undefined) return undefined;
  const where = `${name}:${line}`;
  return 'error' in r ? { where, line, error: r.error, text: r.text } : { where, line, value: r.value, json: r.json };
}

/** Records nested deeper than this are bad records (a study is about 8 levels deep). */
export const MAX_DEPTH = 512;

/**
 * Whether a line's text could nest deeper than MAX_DEPTH: it needs more than MAX_DEPTH opening brackets.
 * Counting them is much cheaper than walking the parsed value, and a study has a few hundred.
 */
function mayBeTooDeep(text: string): boolean {
  if (text.length <= MAX_DEPTH * 2) return false;
  let n = 0;
  for (let i = text.indexOf('['); i !== -1 && n <= MAX_DEPTH; i = text.indexOf('[', i + 1)) n++;
  if (n > MAX_DEPTH) return true;
  for (let i = text.indexOf('{'); i !== -1 && n <= MAX_DEPTH; i = text.indexOf('{', i + 1)) n++;
  return n > MAX_DEPTH;
}

/** Whether a parsed JSON value nests objects and arrays deeper than `max` levels (no recursion: any depth). */
export function tooDeep(v: unknown, max: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  const stack: unknown[] = [v];
  const depths: number[] = [1];
  while (stack.length) {
    const x = stack.pop() as Record<string, unknown> | unknown[];
    const d = depths.pop()!;
    if (d > max) return true;
    for (const y of Array.isArray(x) ? x : Object.values(x)) {
      if (y !== null && typeof y === 'object') {
        stack.push(y);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/**
 * What to add to a JSON error when the line looks like part of a pretty-printed (multi-line) JSON document,
 * such as `jq .` prints: the input must be one JSON value per line.
 */
function ndjsonHint(text: string, first: boolean): string {
  const t = text.trim();
  const fragment = /^[[{]$/.test(t) || /^[\]}],?$/.test(t) || /^"[^"]*"\s*:/.test(t) || (first && /^[[{]/.test(t) && !/[\]}]$/.test(t));
  return fragment ? ' (the input must be one JSON value per line (NDJSON); pretty-printed JSON? compact it with jq -c)' : '';
}
