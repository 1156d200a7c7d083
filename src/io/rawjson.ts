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
  let raw = false;
  for (const k in rec) {
    if (rec[k] instanceof RawJson) {
      raw = true;
      break;
    }
  }
  if (!raw) return JSON.stringify(rec);
  let s = '{';
  for (const k in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, k)) continue;
    const v = rec[k];
    let text: string | undefined;
    if (v instanceof RawJson) text = v.json;
    else text = JSON.stringify(v);
    if (text === undefined) continue; // undefined, functions: left out as JSON.stringify does
    if (s.length > 1) s += ',';
    s += JSON.stringify(k) + ':' + text;
  }
  return s + '}';
}
