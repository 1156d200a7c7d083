/**
 * A loopback mock of the ClinicalTrials.gov REST API v2 for tests and the offline demo.
 *
 * Endpoints (base `http://127.0.0.1:PORT/api/v2`):
 *   GET /studies          paged list, follows ctg-oas-v2.yaml (pageToken / nextPageToken, pageSize, countTotal)
 *   GET /studies/{nctId}  one study, or 404
 *   GET /version          {"apiVersion":"2.0.5","dataTimestamp":"..."}
 *
 * Behaviour worth knowing (see also the report in the commit):
 * - A page of exactly `pageSize` studies always carries a `nextPageToken`, so when the result is an exact
 *   multiple of the page size the last token leads to an empty `studies` page without token (like the live API).
 * - `totalCount` is returned only on the FIRST page (no pageToken) and only with `countTotal=true`
 *   (the OpenAPI file: "The parameter is ignored for the subsequent pages").
 * - Page tokens are base64url(JSON {v,o,h,t,g}): offset, hash of the filter parameters (every parameter except
 *   pageToken/pageSize/countTotal; `format=json` counts as absent), issue time (ms), and token generation.
 *   A token is rejected with 400 text/plain when it does not decode, was issued for other parameters,
 *   is older than `tokenTtlMs`, or was issued before `expireAllTokens()`.
 * - `fields` trims each study (best effort): a dotted path (`protocolSection.statusModule`) selects that path,
 *   case-insensitively per segment; a plain name (`NCTId`, `BriefTitle`, `ConditionsModule`,
 *   `LastUpdatePostDate`) selects the first object key (depth-first, not descending into arrays) equal to it,
 *   case-insensitively, or equal to it + "Struct". `@query` means no trimming.
 * - Unknown parameters -> 400 "`name` is unknown parameter" (the live API's wording). Parameters that the live
 *   API knows but this mock does not implement (filter.geo, filter.synonyms, aggFilters, geoDecay, sort, ...)
 *   -> 400 "`name` is not supported by ctgov-mock", so a test never silently gets unfiltered data.
 * - pageSize: integer; values above maxPageSize are coerced down; 0, negative or non-integer -> 400.
 *   (The OpenAPI text says 0 means "default"; this mock deliberately rejects it.)
 * - Faults are drawn for `GET /studies` (the list endpoint) only, one PRNG draw per request, seeded; the kinds
 *   are mutually exclusive so each occurs at its configured rate.
 */
import http from 'node:http';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { mulberry32 } from './prng.js';

export interface CtgovFaults {
  rate429?: number;
  /** Retry-After header value in seconds for 429 answers; default 1; 0 allowed. */
  retryAfterSeconds?: number;
  rate503?: number;
  rate403?: number;
  /** 200 with an HTML maintenance page (content-type text/html). */
  rateHtml200?: number;
  /** 200 application/json whose body is cut in the middle (Content-Length matches the cut body). */
  rateTruncated?: number;
  /** Destroy the socket without answering. */
  rateReset?: number;
  /** Answer normally, but only after slowMs (default 1500). */
  rateSlow?: number;
  slowMs?: number;
}

export interface CtgovMockOptions {
  /** The studies, as objects or as their JSON text (one study each: served as given, parsed only to filter). */
  studies: Array<object | string>;
  port?: number;
  faults?: CtgovFaults;
  seed?: number;
  tokenTtlMs?: number;
  maxPageSize?: number;
  defaultPageSize?: number;
}

export interface CtgovMockRequest {
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface CtgovMock {
  url: string;
  port: number;
  requests: CtgovMockRequest[];
  setFaults(f: CtgovMockOptions['faults']): void;
  expireAllTokens(): void;
  close(): Promise<void>;
}

export const STATUSES = [
  'ACTIVE_NOT_RECRUITING',
  'COMPLETED',
  'ENROLLING_BY_INVITATION',
  'NOT_YET_RECRUITING',
  'RECRUITING',
  'SUSPENDED',
  'TERMINATED',
  'WITHDRAWN',
  'AVAILABLE',
  'NO_LONGER_AVAILABLE',
  'TEMPORARILY_NOT_AVAILABLE',
  'APPROVED_FOR_MARKETING',
  'WITHHELD',
  'UNKNOWN',
] as const;

/** Parameters of GET /studies the mock implements. */
const SUPPORTED_LIST_PARAMS = new Set([
  'format',
  'query.cond',
  'query.term',
  'query.locn',
  'query.titles',
  'query.intr',
  'query.outc',
  'query.spons',
  'query.lead',
  'query.id',
  'query.patient',
  'filter.overallStatus',
  'filter.ids',
  'filter.advanced',
  'postFilter.overallStatus',
  'postFilter.ids',
  'postFilter.advanced',
  'fields',
  'countTotal',
  'pageSize',
  'pageToken',
]);
/** Parameters the live API knows but the mock does not implement. */
const UNSUPPORTED_LIST_PARAMS = new Set([
  'filter.geo',
  'filter.synonyms',
  'postFilter.geo',
  'postFilter.synonyms',
  'aggFilters',
  'geoDecay',
  'sort',
]);
/** Parameters that may differ between the pages of one listing. */
const PAGING_PARAMS = new Set(['pageToken', 'pageSize', 'countTotal']);

/** Read an NDJSON file of studies (blank lines ignored). */
/** Run `fn` against a fresh mock, closing it afterwards whatever happens. */
export async function withCtgovMock<T>(opts: CtgovMockOptions, fn: (m: CtgovMock) => Promise<T>): Promise<T> {
  const m = await startCtgovMock(opts);
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

/**
 * The non-blank lines of an NDJSON file, each checked to be JSON (parsed and dropped: the mock keeps the
 * text). Read in chunks: a registry-scale file is larger than the longest string JavaScript can hold.
 */
export function loadStudyLines(file: string): string[] {
  const out: string[] = [];
  const fd = fs.openSync(file, 'r');
  const chunk = Buffer.allocUnsafe(8 << 20);
  let rest = Buffer.alloc(0);
  let lineNo = 0;
  const take = (bytes: Buffer) => {
    lineNo++;
    const t = bytes.toString('utf8').trim();
    if (!t) return;
    try {
      JSON.parse(t);
    } catch (e) {
      throw new Error(`${file}:${lineNo}: invalid JSON: ${(e as Error).message}`);
    }
    out.push(t);
  };
  try {
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      let buf = rest.length ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
        take(buf.subarray(start, nl));
        start = nl + 1;
      }
      rest = Buffer.from(buf.subarray(start));
      buf = rest;
    }
    if (rest.length) take(rest);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

export function loadStudies(file: string): object[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: object[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    const t = line.trim();
    if (!t) continue;
    try {
      out.push(JSON.parse(t) as object);
    } catch (e) {
      throw new Error(`${file}:${lineNo}: invalid JSON: ${(e as Error).message}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// helpers

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}


type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObj = { [k: string]: Json };

function isObj(v: unknown): v is JsonObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function get(obj: unknown, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

function splitList(v: string): string[] {
  return v
    .split(/[,|]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Normalise a data date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) to `YYYY-MM-DD`; undefined if unusable. */
function normDataDate(d: unknown): string | undefined {
  if (typeof d !== 'string') return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(d)) return d;
  if (/^\d{4}-\d{2}$/.test(d)) return `${d}-01`;
  if (/^\d{4}$/.test(d)) return `${d}-01-01`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// filter.advanced (a small subset of Essie): AREA[Name]RANGE[lo,hi], AND / OR, parentheses

const DATE_AREAS: Record<string, string> = {
  startdate: 'startDateStruct',
  lastupdatepostdate: 'lastUpdatePostDateStruct',
  primarycompletiondate: 'primaryCompletionDateStruct',
  completiondate: 'completionDateStruct',
  studyfirstpostdate: 'studyFirstPostDateStruct',
  studyfirstsubmitdate: 'studyFirstSubmitDate',
  lastupdatesubmitdate: 'lastUpdateSubmitDate',
  resultsfirstpostdate: 'resultsFirstPostDateStruct',
};

type Pred = (s: IndexedStudy) => boolean;

function parseBound(raw: string, which: 'lo' | 'hi', expr: string): string | null {
  const v = raw.trim();
  if (/^MIN$/i.test(v)) {
    if (which === 'hi') throw new HttpError(400, `Invalid filter.advanced '${expr}': MIN is only allowed as lower bound`);
    return null;
  }
  if (/^MAX$/i.test(v)) {
    if (which === 'lo') throw new HttpError(400, `Invalid filter.advanced '${expr}': MAX is only allowed as upper bound`);
    return null;
  }
  let m: RegExpExecArray | null;
  if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v))) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const dt = new Date(Date.UTC(y, mo - 1, d));
    if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) {
      throw new HttpError(400, `Invalid filter.advanced '${expr}': invalid date '${v}'`);
    }
    return v;
  }
  if ((m = /^(\d{4})-(\d{2})$/.exec(v))) {
    const mo = Number(m[2]);
    if (mo < 1 || mo > 12) throw new HttpError(400, `Invalid filter.advanced '${expr}': invalid date '${v}'`);
    // a month as upper bound includes the whole month
    return which === 'lo' ? `${v}-01` : `${v}-31`;
  }
  if (/^\d{4}$/.test(v)) return which === 'lo' ? `${v}-01-01` : `${v}-12-31`;
  throw new HttpError(400, `Invalid filter.advanced '${expr}': invalid date '${v}'`);
}

export function parseAdvanced(expr: string): Pred {
  const src = expr;
  let pos = 0;
  const bad = (why: string): never => {
    throw new HttpError(400, `Invalid filter.advanced '${src}': ${why} at position ${pos}`);
  };
  const ws = () => {
    while (pos < src.length && /\s/.test(src[pos]!)) pos++;
  };
  const keyword = (kw: string): boolean => {
    ws();
    const s = src.slice(pos, pos + kw.length);
    if (s.toUpperCase() === kw && (pos + kw.length >= src.length || /[\s(]/.test(src[pos + kw.length]!))) {
      pos += kw.length;
      return true;
    }
    return false;
  };
  const bracket = (): string => {
    if (src[pos] !== '[') bad("expected '['");
    const end = src.indexOf(']', pos);
    if (end < 0) bad("missing ']'");
    const inner = src.slice(pos + 1, end);
    pos = end + 1;
    return inner;
  };
  const term = (): Pred => {
    ws();
    if (src[pos] === '(') {
      pos++;
      const p = orExpr();
      ws();
      if (src[pos] !== ')') bad("expected ')'");
      pos++;
      return p;
    }
    if (src.slice(pos, pos + 5).toUpperCase() !== 'AREA[') bad('expected AREA[...]');
    pos += 4;
    const area = bracket().trim();
    const key = DATE_AREAS[area.toLowerCase()];
    if (!key) throw new HttpError(400, `Invalid filter.advanced '${src}': area '${area}' is not supported by ctgov-mock`);
    if (src.slice(pos, pos + 6).toUpperCase() !== 'RANGE[') bad('expected RANGE[...]');
    pos += 5;
    const range = bracket();
    const parts = range.split(',');
    if (parts.length !== 2) bad('RANGE needs two bounds');
    const lo = parseBound(parts[0]!, 'lo', src);
    const hi = parseBound(parts[1]!, 'hi', src);
    return (s) => {
      const sm = get(s.study, 'protocolSection', 'statusModule');
      const raw = key.endsWith('Struct') ? get(sm, key, 'date') : get(sm, key);
      const d = normDataDate(raw);
      if (!d) return false;
      return (lo === null || d >= lo) && (hi === null || d <= hi);
    };
  };
  const andExpr = (): Pred => {
    const ps = [term()];
    while (keyword('AND')) ps.push(term());
    return ps.length === 1 ? ps[0]! : (s) => ps.every((p) => p(s));
  };
  const orExpr = (): Pred => {
    const ps = [andExpr()];
    while (keyword('OR')) ps.push(andExpr());
    return ps.length === 1 ? ps[0]! : (s) => ps.some((p) => p(s));
  };
  if (!src.trim()) bad('empty expression');
  const p = orExpr();
  ws();
  if (pos !== src.length) bad('unexpected text');
  return p;
}

// ---------------------------------------------------------------------------------------------------------
// field trimming

function findKeyPath(obj: unknown, name: string): string[] | undefined {
  const lname = name.toLowerCase();
  const walk = (o: unknown, path: string[]): string[] | undefined => {
    if (!isObj(o)) return undefined;
    for (const k of Object.keys(o)) {
      const lk = k.toLowerCase();
      if (lk === lname || lk === `${lname}struct`) return [...path, k];
    }
    for (const k of Object.keys(o)) {
      const r = walk(o[k], [...path, k]);
      if (r) return r;
    }
    return undefined;
  };
  return walk(obj, []);
}

function resolveDotted(obj: unknown, dotted: string): string[] | undefined {
  const path: string[] = [];
  let cur: unknown = obj;
  for (const seg of dotted.split('.')) {
    if (!isObj(cur)) return undefined;
    const k = Object.keys(cur).find((x) => x.toLowerCase() === seg.toLowerCase());
    if (k === undefined) return undefined;
    path.push(k);
    cur = cur[k];
  }
  return path;
}

function trimStudy(study: JsonObj, fields: string[]): JsonObj {
  const out: JsonObj = {};
  for (const f of fields) {
    const path = f.includes('.') ? resolveDotted(study, f) : findKeyPath(study, f);
    if (!path) continue;
    let src: Json = study;
    let dst: JsonObj = out;
    for (let i = 0; i < path.length; i++) {
      const k = path[i]!;
      src = (src as JsonObj)[k]!;
      if (i === path.length - 1) dst[k] = src;
      else {
        if (!isObj(dst[k])) dst[k] = {};
        dst = dst[k] as JsonObj;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the server

/**
 * A study as served: its JSON text, with the parsed object and the lower-cased text made on first use (by a
 * filter), so a mock of 100,000 studies served without filters holds only their text.
 */
class IndexedStudy {
  readonly nctId: string;
  readonly lastUpdate: string | undefined;
  private parsed: JsonObj | undefined;
  private lower: string | undefined;
  constructor(
    readonly json: string,
    study?: JsonObj,
  ) {
    const s = study ?? (JSON.parse(json) as JsonObj);
    this.parsed = study; // a study given as text is parsed again when a filter needs it
    this.nctId = String(get(s, 'protocolSection', 'identificationModule', 'nctId') ?? '');
    this.lastUpdate = normDataDate(get(s, 'protocolSection', 'statusModule', 'lastUpdatePostDateStruct', 'date'));
  }
  get study(): JsonObj {
    return (this.parsed ??= JSON.parse(this.json) as JsonObj);
  }
  get lowerJson(): string {
    return (this.lower ??= this.json.toLowerCase());
  }
}

interface TokenData {
  v: 1;
  o: number; // offset
  h: string; // filter hash
  t: number; // issued at (ms)
  g: number; // generation
}

const HTML_PAGE =
  '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>ClinicalTrials.gov - Maintenance</title></head>' +
  '<body><h1>ClinicalTrials.gov is undergoing maintenance</h1><p>We apologize for the inconvenience. ' +
  'Please try again later.</p></body></html>\n';

function errorHtml(status: number, title: string): string {
  return `<!DOCTYPE html>\n<html><head><title>${status} ${title}</title></head><body><h1>${title}</h1></body></html>\n`;
}

export function startCtgovMock(opts: CtgovMockOptions): Promise<CtgovMock> {
  const maxPageSize = opts.maxPageSize ?? 1000;
  const defaultPageSize = opts.defaultPageSize ?? 10;
  const tokenTtlMs = opts.tokenTtlMs;
  let faults: CtgovFaults = { ...(opts.faults ?? {}) };
  const rand = mulberry32(opts.seed ?? 1);
  let generation = 0;
  const requests: CtgovMockRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  const index: IndexedStudy[] = opts.studies.map((s) => (typeof s === 'string' ? new IndexedStudy(s) : new IndexedStudy(JSON.stringify(s), s as JsonObj)));
  const byId = new Map(index.map((s) => [s.nctId.toUpperCase(), s]));
  let maxUpdate = '';
  for (const s of index) if (s.lastUpdate && s.lastUpdate > maxUpdate) maxUpdate = s.lastUpdate;
  const dataTimestamp = `${maxUpdate || '2025-01-01'}T09:00:00`;

  const filterCache = new Map<string, IndexedStudy[]>();

  function buildFilter(q: URLSearchParams): Pred[] {
    const preds: Pred[] = [];
    const substr = (param: string, pick: (s: IndexedStudy) => string[]) => {
      const v = q.get(param);
      if (v === null) return;
      const needle = v.trim().toLowerCase();
      if (!needle) return;
      preds.push((s) => pick(s).some((x) => x.toLowerCase().includes(needle)));
    };
    const ps = (s: IndexedStudy) => get(s.study, 'protocolSection');
    const term = q.get('query.term');
    if (term !== null && /AREA\[/i.test(term)) preds.push(parseAdvanced(term));
    else {
      const needle = (term ?? '').trim().toLowerCase();
      if (needle) preds.push((s) => s.lowerJson.includes(needle));
    }
    substr('query.patient', (s) => [s.lowerJson]);
    substr('query.cond', (s) => [
      ...strings(get(ps(s), 'conditionsModule', 'conditions')),
      ...strings(get(ps(s), 'conditionsModule', 'keywords')),
    ]);
    substr('query.intr', (s) => {
      const iv = get(ps(s), 'armsInterventionsModule', 'interventions');
      return Array.isArray(iv) ? iv.flatMap((i) => strings(get(i, 'name'))) : [];
    });
    substr('query.titles', (s) => {
      const im = get(ps(s), 'identificationModule');
      return [...strings(get(im, 'briefTitle')), ...strings(get(im, 'officialTitle')), ...strings(get(im, 'acronym'))];
    });
    substr('query.lead', (s) => strings(get(ps(s), 'sponsorCollaboratorsModule', 'leadSponsor', 'name')));
    substr('query.spons', (s) => {
      const sc = get(ps(s), 'sponsorCollaboratorsModule');
      const col = get(sc, 'collaborators');
      return [
        ...strings(get(sc, 'leadSponsor', 'name')),
        ...(Array.isArray(col) ? col.flatMap((c) => strings(get(c, 'name'))) : []),
      ];
    });
    substr('query.id', (s) => {
      const im = get(ps(s), 'identificationModule');
      const sec = get(im, 'secondaryIdInfos');
      return [
        s.nctId,
        ...strings(get(im, 'orgStudyIdInfo', 'id')),
        ...strings(get(im, 'nctIdAliases')),
        ...(Array.isArray(sec) ? sec.flatMap((x) => strings(get(x, 'id'))) : []),
      ];
    });
    substr('query.outc', (s) => [JSON.stringify(get(ps(s), 'outcomesModule') ?? '')]);
    substr('query.locn', (s) => [JSON.stringify(get(ps(s), 'contactsLocationsModule', 'locations') ?? '')]);

    for (const param of ['filter.overallStatus', 'postFilter.overallStatus']) {
      const v = q.get(param);
      if (v === null) continue;
      const list = splitList(v).map((x) => x.toUpperCase());
      if (list.length === 0) throw new HttpError(400, `\`${param}\` must not be empty`);
      for (const st of list) {
        if (!(STATUSES as readonly string[]).includes(st)) {
          throw new HttpError(400, `\`${param}\` has invalid value '${st}'; allowed values: ${STATUSES.join(', ')}`);
        }
      }
      const set = new Set(list);
      preds.push((s) => set.has(String(get(ps(s), 'statusModule', 'overallStatus'))));
    }
    for (const param of ['filter.ids', 'postFilter.ids']) {
      const v = q.get(param);
      if (v === null) continue;
      const list = splitList(v);
      if (list.length === 0) throw new HttpError(400, `\`${param}\` must not be empty`);
      for (const id of list) {
        if (!/^(NCT|nct)\d{8}$/.test(id)) throw new HttpError(400, `\`${param}\` has invalid NCT number '${id}'`);
      }
      const set = new Set(list.map((x) => x.toUpperCase()));
      preds.push((s) => set.has(s.nctId.toUpperCase()));
    }
    for (const param of ['filter.advanced', 'postFilter.advanced']) {
      const v = q.get(param);
      if (v === null) continue;
      preds.push(parseAdvanced(v));
    }
    return preds;
  }

  function filterHash(q: URLSearchParams): string {
    const entries = [...q.entries()]
      .filter(([k, v]) => !PAGING_PARAMS.has(k) && !(k === 'format' && v.toLowerCase() === 'json'))
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return createHash('sha256').update(JSON.stringify(entries)).digest('base64url').slice(0, 22);
  }

  function encodeToken(t: TokenData): string {
    return Buffer.from(JSON.stringify(t)).toString('base64url');
  }

  function decodeToken(raw: string): TokenData {
    let t: unknown;
    try {
      if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new Error('bad alphabet');
      t = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    } catch {
      throw new HttpError(400, `Invalid pageToken '${raw}'`);
    }
    if (
      !isObj(t) ||
      t.v !== 1 ||
      typeof t.o !== 'number' ||
      !Number.isInteger(t.o) ||
      t.o < 0 ||
      typeof t.h !== 'string' ||
      typeof t.t !== 'number' ||
      typeof t.g !== 'number'
    ) {
      throw new HttpError(400, `Invalid pageToken '${raw}'`);
    }
    return t as unknown as TokenData;
  }

  function listStudies(q: URLSearchParams): { status: number; type: string; body: string } {
    for (const k of new Set(q.keys())) {
      if (UNSUPPORTED_LIST_PARAMS.has(k)) throw new HttpError(400, `\`${k}\` is not supported by ctgov-mock`);
      if (!SUPPORTED_LIST_PARAMS.has(k)) throw new HttpError(400, `\`${k}\` is unknown parameter`);
      if (q.getAll(k).length > 1) throw new HttpError(400, `\`${k}\` is specified more than once`);
    }
    const format = q.get('format');
    if (format !== null && format.toLowerCase() !== 'json') {
      if (format.toLowerCase() === 'csv') throw new HttpError(400, '`format=csv` is not supported by ctgov-mock');
      throw new HttpError(400, `\`format\` has invalid value '${format}'; allowed values: csv, json`);
    }
    let pageSize = defaultPageSize;
    const ps = q.get('pageSize');
    if (ps !== null) {
      if (!/^\s*[-+]?\d+\s*$/.test(ps)) throw new HttpError(400, `\`pageSize\` must be an integer, got '${ps}'`);
      const n = Number(ps);
      if (n <= 0) throw new HttpError(400, `\`pageSize\` must be a positive integer, got '${ps}'`);
      pageSize = Math.min(n, maxPageSize);
    }
    let countTotal = false;
    const ct = q.get('countTotal');
    if (ct !== null) {
      if (/^true$/i.test(ct)) countTotal = true;
      else if (!/^false$/i.test(ct)) throw new HttpError(400, `\`countTotal\` must be true or false, got '${ct}'`);
    }
    let fields: string[] | null = null;
    const fv = q.get('fields');
    if (fv !== null) {
      const list = splitList(fv);
      if (list.length === 0) throw new HttpError(400, '`fields` must be a non-empty list');
      for (const f of list) {
        if (f !== '@query' && !/^[a-zA-Z][a-zA-Z0-9\-. ]*$/.test(f)) throw new HttpError(400, `\`fields\` has invalid field '${f}'`);
      }
      fields = list.includes('@query') ? null : list;
    }

    const hash = filterHash(q);
    const tokenRaw = q.get('pageToken');
    let offset = 0;
    if (tokenRaw !== null) {
      const tok = decodeToken(tokenRaw);
      if (tok.h !== hash) {
        throw new HttpError(400, `Invalid pageToken '${tokenRaw}': the request parameters differ from the first page's`);
      }
      if (tok.g !== generation || (tokenTtlMs !== undefined && Date.now() - tok.t > tokenTtlMs)) {
        throw new HttpError(400, `Invalid pageToken '${tokenRaw}': expired`);
      }
      offset = tok.o;
    }

    let matched = filterCache.get(hash);
    if (!matched) {
      const preds = buildFilter(q);
      matched = preds.length === 0 ? index : index.filter((s) => preds.every((p) => p(s)));
      if (filterCache.size > 200) filterCache.clear();
      filterCache.set(hash, matched);
    }
    const page = matched.slice(offset, offset + pageSize);
    const parts: string[] = [];
    if (countTotal && tokenRaw === null) parts.push(`"totalCount":${matched.length}`);
    const items = fields ? page.map((s) => JSON.stringify(trimStudy(s.study, fields!))) : page.map((s) => s.json);
    parts.push(`"studies":[${items.join(',')}]`);
    if (page.length === pageSize) {
      const next = encodeToken({ v: 1, o: offset + pageSize, h: hash, t: Date.now(), g: generation });
      parts.push(`"nextPageToken":${JSON.stringify(next)}`);
    }
    return { status: 200, type: 'application/json', body: `{${parts.join(',')}}` };
  }

  function getStudy(id: string, q: URLSearchParams): { status: number; type: string; body: string } {
    for (const k of new Set(q.keys())) {
      if (k !== 'format' && k !== 'fields') throw new HttpError(400, `\`${k}\` is unknown parameter`);
    }
    const format = q.get('format');
    if (format !== null && format.toLowerCase() !== 'json') throw new HttpError(400, `\`format=${format}\` is not supported by ctgov-mock`);
    if (!/^(NCT|nct)\d{8}$/.test(id)) throw new HttpError(400, `Invalid NCT number '${id}'`);
    const s = byId.get(id.toUpperCase());
    if (!s) throw new HttpError(404, `Study ${id.toUpperCase()} not found`);
    const fv = q.get('fields');
    const fields = fv === null ? null : splitList(fv);
    if (fields && fields.length === 0) throw new HttpError(400, '`fields` must be a non-empty list');
    return { status: 200, type: 'application/json', body: fields ? JSON.stringify(trimStudy(s.study, fields)) : s.json };
  }

  /** One draw per /studies request; fault kinds are mutually exclusive. */
  function drawFault(): keyof CtgovFaults | null {
    const r = rand();
    const kinds: Array<keyof CtgovFaults> = ['rateReset', 'rate429', 'rate503', 'rate403', 'rateHtml200', 'rateTruncated', 'rateSlow'];
    let acc = 0;
    for (const k of kinds) {
      const p = faults[k];
      if (typeof p === 'number' && p > 0) {
        acc += p;
        if (r < acc) return k;
      }
    }
    return null;
  }

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query: Record<string, string> = {};
    for (const [k, v] of u.searchParams) if (!(k in query)) query[k] = v;
    const rec: CtgovMockRequest = { path: u.pathname, query, status: 0 };
    requests.push(rec);

    const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      rec.status = status;
      const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      res.writeHead(status, {
        'content-type': type.includes('charset') ? type : `${type}; charset=utf-8`,
        'content-length': String(buf.length),
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : buf);
    };

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain', `Method ${req.method} not allowed`, { allow: 'GET, HEAD' });
      return;
    }

    const path = u.pathname.replace(/\/+$/, '');
    const answer = (): { status: number; type: string; body: string } => {
      try {
        if (path === '/api/v2/studies') return listStudies(u.searchParams);
        if (path === '/api/v2/version') {
          for (const k of u.searchParams.keys()) throw new HttpError(400, `\`${k}\` is unknown parameter`);
          return { status: 200, type: 'application/json', body: JSON.stringify({ apiVersion: '2.0.5', dataTimestamp }) };
        }
        const m = /^\/api\/v2\/studies\/([^/]+)$/.exec(path);
        if (m && m[1] !== 'metadata' && m[1] !== 'search-areas' && m[1] !== 'enums') return getStudy(decodeURIComponent(m[1]!), u.searchParams);
        return { status: 404, type: 'text/plain', body: `Not found: ${u.pathname}` };
      } catch (e) {
        if (e instanceof HttpError) return { status: e.status, type: 'text/plain', body: e.message };
        return { status: 500, type: 'text/plain', body: `Internal error: ${(e as Error).message}` };
      }
    };

    const fault = path === '/api/v2/studies' ? drawFault() : null;
    switch (fault) {
      case 'rateReset':
        rec.status = 0;
        req.socket.destroy();
        return;
      case 'rate429': {
        const ra = faults.retryAfterSeconds ?? 1;
        send(429, 'text/plain', 'Too Many Requests', { 'retry-after': String(ra) });
        return;
      }
      case 'rate503':
        send(503, 'text/html', errorHtml(503, 'Service Unavailable'));
        return;
      case 'rate403':
        send(403, 'text/html', errorHtml(403, 'Forbidden'));
        return;
      case 'rateHtml200':
        send(200, 'text/html', HTML_PAGE);
        return;
      case 'rateTruncated': {
        const a = answer();
        const full = Buffer.from(a.status === 200 ? a.body : '{"studies":[{"protocolSection":{"identificationModule":{}}}]}', 'utf8');
        send(200, 'application/json', full.subarray(0, Math.max(1, Math.floor(full.length / 2))));
        return;
      }
      case 'rateSlow': {
        const a = answer();
        rec.status = a.status;
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed && !req.socket.destroyed) send(a.status, a.type, a.body);
        }, faults.slowMs ?? 1500);
        timers.add(t);
        return;
      }
      default: {
        const a = answer();
        send(a.status, a.type, a.body);
      }
    }
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      let closing: Promise<void> | null = null;
      resolve({
        url: `http://127.0.0.1:${port}/api/v2`,
        port,
        requests,
        setFaults(f) {
          faults = { ...(f ?? {}) };
        },
        expireAllTokens() {
          generation++;
        },
        close() {
          if (!closing) {
            closing = new Promise<void>((res) => {
              for (const t of timers) clearTimeout(t);
              timers.clear();
              server.close(() => res());
              server.closeAllConnections();
              for (const s of sockets) s.destroy();
            });
          }
          return closing;
        },
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// standalone mode

function usage(msg?: string): never {
  if (msg) process.stderr.write(`ctgov-mock: ${msg}\n`);
  process.stderr.write(
    'usage: node dist/test/mocks/ctgov-mock.js --data FILE.ndjson [--port N] [--port-file F] [--fault-rate R]\n' +
      '         [--seed N] [--retry-after S] [--slow-rate R] [--slow-ms MS] [--token-ttl-ms MS]\n' +
      '         [--max-page-size N] [--default-page-size N]\n',
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') usage();
    if (!a.startsWith('--')) usage(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    if (eq > 0) args.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = argv[i + 1];
      if (v === undefined) usage(`missing value for ${a}`);
      args.set(a.slice(2), v);
      i++;
    }
  }
  const known = ['data', 'port', 'port-file', 'fault-rate', 'seed', 'retry-after', 'slow-rate', 'slow-ms', 'token-ttl-ms', 'max-page-size', 'default-page-size'];
  for (const k of args.keys()) if (!known.includes(k)) usage(`unknown option --${k}`);
  const num = (k: string, def?: number): number | undefined => {
    const v = args.get(k);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) usage(`--${k} must be a number`);
    return n;
  };
  const data = args.get('data');
  if (!data) usage('--data is required');
  const rate = num('fault-rate', 0)!;
  if (rate < 0 || rate > 1) usage('--fault-rate must be within 0..1');
  const each = rate / 6;
  const mock = await startCtgovMock({
    studies: loadStudyLines(data),
    port: num('port', 0),
    seed: num('seed', 1),
    tokenTtlMs: num('token-ttl-ms'),
    maxPageSize: num('max-page-size'),
    defaultPageSize: num('default-page-size'),
    faults: {
      rate429: each,
      rate503: each,
      rate403: each,
      rateHtml200: each,
      rateTruncated: each,
      rateReset: each,
      retryAfterSeconds: num('retry-after', 1),
      rateSlow: num('slow-rate', 0),
      slowMs: num('slow-ms', 1500),
    },
  });
  const portFile = args.get('port-file');
  if (portFile) {
    const tmp = `${portFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${mock.port}\n`);
    fs.renameSync(tmp, portFile);
  }
  process.stdout.write(`ctgov-mock listening on ${mock.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    mock.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    if (import.meta.url === pathToFileURL(script).href) return true;
    return fs.realpathSync(fileURLToPath(import.meta.url)) === fs.realpathSync(script);
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`ctgov-mock: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
