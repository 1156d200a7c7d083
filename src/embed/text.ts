/** What to embed from a record (`--text-field` or `--template`) and what to call it in messages (`--id-field`). */
import type { Rec } from '../io/arrow.js';
import { UsageError } from '../io/errors.js';
import type { InputItem } from '../io/input.js';

/** A field's value as text: strings as they are, lists joined by `; `, objects as JSON, null/absent empty. */
export function fieldText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(fieldText).filter((s) => s !== '').join('; ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * `Title: {title}\n{brief_summary}` → a function of the record. `\n` and `\t` in the template are escapes
 * (shells pass them literally); `{{` and `}}` are literal braces; missing fields render empty.
 */
export function compileTemplate(template: string): (rec: Rec) => string {
  const parts: Array<string | { field: string }> = [];
  const re = /\{\{|\}\}|\{([^{}]+)\}|\\n|\\t|\\\\/g;
  let last = 0;
  for (const m of template.matchAll(re)) {
    parts.push(template.slice(last, m.index));
    const tok = m[0];
    if (m[1] !== undefined) parts.push({ field: m[1].trim() });
    else parts.push(tok === '{{' ? '{' : tok === '}}' ? '}' : tok === '\\n' ? '\n' : tok === '\\t' ? '\t' : '\\');
    last = m.index! + tok.length;
  }
  parts.push(template.slice(last));
  return (rec) => parts.map((p) => (typeof p === 'string' ? p : fieldText(rec[p.field]))).join('');
}

/** Fields a template refers to (to check them against the records). */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/(?<!\{)\{([^{}]+)\}/g)].map((m) => m[1]!.trim());
}

/** A record's text to embed, or why it has none that can be embedded (a bad record). */
export type TextOf = (rec: Rec) => string | { error: string };

const kindOf = (v: unknown): string =>
  Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v === 'number' ? `a number (${v})` : `a ${typeof v} (${String(v)})`;

/**
 * The text to embed: the template's output, or the text field's value. Blank text (and null) counts as empty:
 * no vector. With `--text-field`, a record without the field, or whose value is not a string, is a bad record.
 */
export function textGetter(opts: { template?: string; textField: string }): TextOf {
  const blank = (t: string) => (t.trim() === '' ? '' : t);
  if (opts.template !== undefined) {
    const get = compileTemplate(opts.template);
    return (rec) => blank(get(rec));
  }
  const f = opts.textField;
  return (rec) => {
    const v = rec[f];
    if (v === undefined) return { error: `no field "${f}" (see --text-field)` };
    if (v === null) return '';
    if (typeof v !== 'string') return { error: `field "${f}" is ${kindOf(v)}, not text` };
    return blank(v);
  };
}

/** How many records the field check looks at before the first text is embedded. */
export const FIELD_CHECK_RECORDS = 1000;

/**
 * The input, after checking that every field the text needs (`--text-field`, or a template's `{fields}`)
 * appears in at least one record among the first ones: a typo is a usage error naming the fields that exist,
 * never a run that embeds nothing. Input without records (or with only bad lines there) is not checked.
 */
export async function* requireFields(
  input: AsyncIterable<InputItem>,
  opts: { template?: string; textField: string },
  look = FIELD_CHECK_RECORDS,
): AsyncGenerator<InputItem> {
  const it = input[Symbol.asyncIterator]();
  const needed = opts.template !== undefined ? templateFields(opts.template) : [opts.textField];
  // The items read ahead are held only until every needed field has been seen (most often in the first
  // record): holding 1,000 large records for the whole check, and the array for the whole run, cost memory.
  let head: InputItem[] = [];
  const seen = new Set<string>();
  let missing = new Set(needed);
  let records = 0;
  while (head.length < look && missing.size > 0) {
    const r = await it.next();
    if (r.done) break;
    head.push(r.value);
    const v = r.value.value;
    if (r.value.error === undefined && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      records++;
      for (const k of Object.keys(v)) {
        seen.add(k);
        missing.delete(k);
      }
    }
  }
  if (records > 0 && missing.size > 0) {
    const list = [...seen];
    const fields = list.slice(0, 30).join(', ') + (list.length > 30 ? `, … (${list.length} in all)` : '');
    const gone = needed.filter((f) => missing.has(f));
    const what = opts.template !== undefined ? `--template: ${gone.map((f) => `{${f}}`).join(', ')}` : `--text-field ${opts.textField}`;
    const n = records === 1 ? 'the first record has' : `none of the first ${records} records has`;
    throw new UsageError(`${what}: ${n} ${gone.length > 1 ? 'these fields' : 'that field'}; fields there: ${fields}`);
  }
  missing = new Set();
  const ahead = head;
  head = [];
  while (ahead.length) yield ahead.shift()!;
  for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
}

/** `--id-field`, or by default `nct_id` when the record has one, else `id`. */
export function idGetter(idField?: string): (rec: Rec) => string | undefined {
  return (rec) => {
    const v = idField !== undefined ? rec[idField] : rec.nct_id ?? rec.id;
    return v === null || v === undefined ? undefined : String(v);
  };
}
