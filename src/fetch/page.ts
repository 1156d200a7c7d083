/**
 * A `GET /studies` page (≈ 15 MB of JSON for 1,000 studies) cut into its studies' JSON texts without parsing
 * it whole: each study is then parsed on its own when it is written, so at most one study's objects are in
 * memory instead of a thousand, and NDJSON output writes the server's text as it came (no re-serializing).
 *
 * The cut follows the JSON grammar's structure: strings (with their escapes) are skipped whole, brackets are
 * counted outside them. A body that does not have the page's shape (an object with a `studies` array of
 * objects) is left to `JSON.parse` by the caller (`undefined`); a body that ends early is `incomplete`.
 */
import { RawJson } from '../io/rawjson.js';

export interface SplitPage {
  studies: RawJson[];
  /** The page's other members (nextPageToken, totalCount, …), parsed. */
  meta: Record<string, unknown>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const STRUCTURE = /["[\]{}]/g;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
function skipSpace(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Index after the string starting at `i` (a quote); -1 if it never closes. */
function endOfString(s: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const k = s.indexOf('"', j);
    if (k === -1) return -1;
    let bs = 0;
    while (s.charCodeAt(k - 1 - bs) === BACKSLASH) bs++;
    if (bs % 2 === 0) return k + 1;
    j = k + 1;
  }
}

/** Index after the object or array starting at `i`; -1 if it never closes (or closes with the wrong bracket). */
function endOfContainer(s: string, i: number): number {
  const stack: number[] = [];
  const re = new RegExp(STRUCTURE.source, 'g');
  re.lastIndex = i;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const c = s.charCodeAt(m.index);
    if (c === QUOTE) {
      const e = endOfString(s, m.index);
      if (e === -1) return -1;
      re.lastIndex = e;
    } else if (c === 0x7b || c === 0x5b) {
      stack.push(c === 0x7b ? 0x7d : 0x5d);
    } else if (stack.pop() !== c) {
      return -1;
    } else if (stack.length === 0) {
      return m.index + 1;
    }
  }
  return -1;
}

/** Index after the (scalar or container) value at `i`; -1 if it does not end. */
function endOfValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return endOfString(s, i);
  if (c === 0x7b || c === 0x5b) return endOfContainer(s, i);
  let j = i;
  while (j < s.length && !isSpace(s.charCodeAt(j)) && s[j] !== ',' && s[j] !== '}' && s[j] !== ']') j++;
  return j > i ? j : -1;
}

/** Cut a page body; `undefined`: not a page's shape (let JSON.parse judge); `'incomplete'`: it ends early. */
export function splitStudiesPage(body: string): SplitPage | 'incomplete' | undefined {
  let i = skipSpace(body, 0);
  if (body.charCodeAt(i) !== 0x7b) return undefined;
  i = skipSpace(body, i + 1);
  const members: string[] = [];
  let studies: RawJson[] | undefined;
  for (;;) {
    if (i >= body.length) return 'incomplete';
    if (body.charCodeAt(i) === 0x7d) break;
    if (body.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = endOfString(body, i);
    if (keyEnd === -1) return 'incomplete';
    const key = body.slice(i, keyEnd);
    i = skipSpace(body, keyEnd);
    if (body[i] !== ':') return i >= body.length ? 'incomplete' : undefined;
    i = skipSpace(body, i + 1);
    if (i >= body.length) return 'incomplete';
    if (key === '"studies"' && body.charCodeAt(i) === 0x5b) {
      if (studies) return undefined; // twice: JSON.parse keeps the last, so let it decide
      studies = [];
      i = skipSpace(body, i + 1);
      if (body.charCodeAt(i) === 0x5d) i++;
      else {
        for (;;) {
          if (i >= body.length) return 'incomplete';
          if (body.charCodeAt(i) !== 0x7b) return undefined; // not an object: the caller says so
          const e = endOfContainer(body, i);
          if (e === -1) return 'incomplete';
          studies.push(new RawJson(body.slice(i, e)));
          i = skipSpace(body, e);
          if (body[i] === ',') i = skipSpace(body, i + 1);
          else if (body[i] === ']') {
            i++;
            break;
          } else return i >= body.length ? 'incomplete' : undefined;
        }
      }
    } else {
      const e = endOfValue(body, i);
      if (e === -1) return 'incomplete';
      members.push(`${key}:${body.slice(i, e)}`);
      i = e;
    }
    i = skipSpace(body, i);
    if (body[i] === ',') i = skipSpace(body, i + 1);
    else if (body[i] !== '}') return i >= body.length ? 'incomplete' : undefined;
  }
  if (skipSpace(body, i + 1) !== body.length) return undefined;
  if (!studies) return undefined;
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(`{${members.join(',')}}`) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return { studies, meta };
}
