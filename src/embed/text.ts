/** What to embed from a record (`--text-field` or `--template`) and what to call it in messages (`--id-field`). */
import type { Rec } from '../io/arrow.js';

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

/** Fields a template refers to (to warn about names no record has). */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/(?<!\{)\{([^{}]+)\}/g)].map((m) => m[1]!.trim());
}

/** The text to embed: the template's output, or the text field's value. Blank text counts as empty. */
export function textGetter(opts: { template?: string; textField: string }): (rec: Rec) => string {
  const get = opts.template !== undefined ? compileTemplate(opts.template) : (rec: Rec) => fieldText(rec[opts.textField]);
  return (rec) => {
    const t = get(rec);
    return t.trim() === '' ? '' : t;
  };
}

/** `--id-field`, or by default `nct_id` when the record has one, else `id`. */
export function idGetter(idField?: string): (rec: Rec) => string | undefined {
  return (rec) => {
    const v = idField !== undefined ? rec[idField] : rec.nct_id ?? rec.id;
    return v === null || v === undefined ? undefined : String(v);
  };
}
