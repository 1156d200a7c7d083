/**
 * JSON text carried as it was read, parsed only if something looks inside. A tool that passes a large
 * nested value through unchanged (a study's `raw`, an Arrow JSON column) keeps the text: the NDJSON writer,
 * the Arrow writer and ct-load's jsonb encoder use it as is, so the value is never re-serialized. Anything
 * else sees the parsed value through `value`, and `JSON.stringify` through `toJSON`, so a RawJson behaves
 * like the value it holds wherever it ends up.
 */
export class RawJson {
  private parsed: unknown;
  private done = false;
  private text: string | undefined;
  /**
   * `json` must be one valid JSON value (the caller parsed it, or it came from a JSON column): its text, or
   * its UTF-8 bytes (a view into an Arrow column, see Utf8Text), decoded only when the text is asked for.
   */
  constructor(json: string | Uint8Array) {
    if (typeof json === 'string') this.text = json;
    else this.utf8 = json;
  }
  /** The UTF-8 bytes it was made from, if it was (a writer of UTF-8 can copy them as they are). */
  readonly utf8: Uint8Array | undefined;
  get json(): string {
    return (this.text ??= utf8ToString(this.utf8!));
  }
  /** The text's length in UTF-16 units, or its byte length when it is held as bytes (a size estimate). */
  get size(): number {
    return this.text?.length ?? this.utf8!.byteLength;
  }
  get value(): unknown {
    if (!this.done) {
      this.parsed = JSON.parse(this.json);
      this.done = true;
    }
    return this.parsed;
  }
  toJSON(): unknown {
    return this.value;
  }
}

/**
 * A string held as its UTF-8 bytes (a view into an Arrow column's data, which it keeps alive), decoded only
 * when asked: ct-load copies the bytes of long text cells straight into COPY rows, where decoding them into
 * JavaScript strings and encoding them back took a quarter of its time. `toString()` and `toJSON()` give the
 * string, so a record holding one still prints and serializes as before.
 */
export class Utf8Text {
  private text: string | undefined;
  constructor(readonly utf8: Uint8Array) {}
  toString(): string {
    return (this.text ??= utf8ToString(this.utf8));
  }
  toJSON(): string {
    return this.toString();
  }
}

/** A Utf8Text as its string, anything else as it is. */
export const unbytes = (v: unknown): unknown => (v instanceof Utf8Text ? v.toString() : v);

const utf8ToString = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

/** The plain value of `v` (a RawJson parsed, anything else as it is). */
export const plain = (v: unknown): unknown => (v instanceof RawJson ? v.value : v instanceof Utf8Text ? v.toString() : v);

/**
 * `JSON.stringify(rec)` for a record, with RawJson fields spliced in as their text. Records without one
 * (the common case elsewhere) go through JSON.stringify unchanged.
 */
export function stringifyRecord(rec: Record<string, unknown>): string {
  // Where the RawJson fields are: none (JSON.stringify), only at the end (one JSON.stringify of the rest, then
  // the texts appended: the usual case, `raw` last), or in between (field by field).
  let raw: string[] | undefined;
  let trailing = true;
  for (const k in rec) {
    if (rec[k] instanceof RawJson) (raw ??= []).push(k);
    else if (raw && rec[k] !== undefined && typeof rec[k] !== 'function') trailing = false;
  }
  if (!raw) return JSON.stringify(rec);
  if (trailing) {
    const rest: Record<string, unknown> = {};
    for (const k in rec) if (!(rec[k] instanceof RawJson)) rest[k] = rec[k];
    let s = JSON.stringify(rest);
    s = s.slice(0, -1);
    for (const k of raw) s += (s.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + (rec[k] as RawJson).json;
    return s + '}';
  }
  let s = '{';
  for (const k in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, k)) continue;
    const v = rec[k];
    const text = v instanceof RawJson ? v.json : JSON.stringify(v);
    if (text === undefined) continue; // undefined, functions: left out as JSON.stringify does
    if (s.length > 1) s += ',';
    s += JSON.stringify(k) + ':' + text;
  }
  return s + '}';
}

/**
 * Where the values of a JSON object's top-level fields are in its text: [key, start, end) per field, in text
 * order (a repeated key appears twice; the last one is the value JSON.parse keeps). `json` must be one valid
 * JSON object (the caller parsed it): the scan only skips strings and counts brackets. Undefined when the
 * text is not an object.
 */
const AT_FIELD = /["{}[\],]/g;
const INSIDE = /["{}[\]]/g;

export function topLevelSpans(json: string): Array<[key: string, start: number, end: number]> | undefined {
  const n = json.length;
  let i = 0;
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  while (i < n && ws(json.charCodeAt(i))) i++;
  if (json.charCodeAt(i) !== 0x7b) return undefined; // {
  i++;
  /** The index of the quote closing the string that opens at `from`. */
  const stringEnd = (from: number): number => {
    let j = from + 1;
    for (;;) {
      j = json.indexOf('"', j);
      if (j < 0) return n;
      let b = j - 1;
      while (json.charCodeAt(b) === 0x5c) b--; // backslashes before the quote: an odd count escapes it
      if ((j - 1 - b) % 2 === 0) return j;
      j++;
    }
  };
  const out: Array<[string, number, number]> = [];
  for (;;) {
    while (i < n && ws(json.charCodeAt(i))) i++;
    if (i >= n || json.charCodeAt(i) === 0x7d) return out; // } (an empty object)
    if (json.charCodeAt(i) !== 0x22) return undefined;
    const kEnd = stringEnd(i);
    const keyText = json.slice(i + 1, kEnd);
    const key = keyText.includes('\\') ? (JSON.parse(json.slice(i, kEnd + 1)) as string) : keyText;
    i = json.indexOf(':', kEnd + 1) + 1;
    if (i === 0) return undefined;
    while (i < n && ws(json.charCodeAt(i))) i++;
    const start = i;
    let depth = 0;
    // Jump from one character that matters to the next (a vector's digits are skipped in one search):
    // quotes and brackets, and at the field's own level the comma that ends it.
    for (;;) {
      const re = depth === 0 ? AT_FIELD : INSIDE;
      re.lastIndex = i;
      if (!re.test(json)) {
        i = n;
        break;
      }
      i = re.lastIndex - 1;
      const c = json.charCodeAt(i);
      if (c === 0x22) i = stringEnd(i);
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) break; // the object's closing brace
        depth--;
      } else break; // a comma at the field's level
      i++;
    }
    let end = i;
    while (end > start && ws(json.charCodeAt(end - 1))) end--;
    out.push([key, start, end]);
    if (i >= n || json.charCodeAt(i) === 0x7d) return out;
    i++; // the comma
  }
}

/** topLevelSpans by key, the last one of a repeated key (the value JSON.parse keeps). */
export function lastTopLevelSpans(json: string): Map<string, [start: number, end: number]> | undefined {
  const spans = topLevelSpans(json);
  if (!spans) return undefined;
  const last = new Map<string, [number, number]>();
  for (const [k, s, e] of spans) last.set(k, [s, e]);
  return last;
}

/**
 * The record parsed from `json`, with each top-level field that holds an object (not an array) replaced by
 * its text as a RawJson: for a writer that would serialize it again (the Arrow writer's JSON columns,
 * ct-load's jsonb), which then copies the text. The objects are garbage at once instead of being held, and
 * sizing the record for a batch no longer walks them. Arrays and scalars stay as parsed (Arrow gives lists
 * of strings a type of their own).
 */
export function objectsAsText(rec: Record<string, unknown>, json: string): Record<string, unknown> {
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawJson);
  let has = false;
  for (const k in rec) {
    if (isObject(rec[k])) {
      has = true;
      break;
    }
  }
  if (!has) return rec;
  const last = lastTopLevelSpans(json);
  if (!last) return rec;
  for (const k in rec) {
    const v = rec[k];
    const at = last.get(k);
    if (k === '__proto__') continue; // an own property of that name: assigning would set the prototype
    if (at && isObject(v) && json.charCodeAt(at[0]) === 0x7b) rec[k] = new RawJson(json.slice(at[0], at[1]));
  }
  return rec;
}
