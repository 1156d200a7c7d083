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
  /** `json` must be one valid JSON value (the caller parsed it, or it came from a JSON column). */
  constructor(readonly json: string) {}
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

/** The plain value of `v` (a RawJson parsed, anything else as it is). */
export const plain = (v: unknown): unknown => (v instanceof RawJson ? v.value : v);

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
