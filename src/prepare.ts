/**
 * ct-prepare's logic: raw ClinicalTrials.gov API v2 studies → clean, flat, load-ready records.
 * `prepareStudy` maps one study; `prepareStream` adds unpacking, filters, dedupe and limits over a stream.
 */
import { createHash } from 'node:crypto';
import { openSync, readSync, writeSync, closeSync, unlinkSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fileError } from './io/atomic-file.js';
import { RuntimeError } from './io/errors.js';
import type { Input, InputItem } from './io/input.js';
import { planLatest } from './latest-scan.js';
import { RawJson } from './io/rawjson.js';
import { StudyIdSet } from './util/study-ids.js';

export interface Intervention {
  type: string | null;
  name: string | null;
}

/** One prepared study. Field order here is the output order. */
export interface PreparedRecord {
  nct_id: string;
  title: string | null;
  official_title: string | null;
  acronym: string | null;
  status: string | null;
  study_type: string | null;
  phases: string[];
  conditions: string[];
  keywords: string[];
  interventions: Intervention[];
  sponsor: string | null;
  collaborators: string[];
  start_date: string | null;
  primary_completion_date: string | null;
  completion_date: string | null;
  first_posted: string | null;
  last_update_posted: string | null;
  enrollment: number | null;
  has_results: boolean;
  brief_summary: string | null;
  detailed_description: string | null;
  eligibility_criteria: string | null;
  sex: string | null;
  minimum_age: string | null;
  maximum_age: string | null;
  healthy_volunteers: boolean | null;
  countries: string[];
  location_count: number;
  url: string;
  text: string;
  content_hash: string;
  raw?: unknown;
}

const withoutNulls = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));

/** The fields of a prepared record, in order (without `raw`). */
export const PREPARED_FIELDS = [
  'nct_id', 'title', 'official_title', 'acronym', 'status', 'study_type', 'phases', 'conditions', 'keywords',
  'interventions', 'sponsor', 'collaborators', 'start_date', 'primary_completion_date', 'completion_date',
  'first_posted', 'last_update_posted', 'enrollment', 'has_results', 'brief_summary', 'detailed_description',
  'eligibility_criteria', 'sex', 'minimum_age', 'maximum_age', 'healthy_volunteers', 'countries',
  'location_count', 'url', 'text', 'content_hash',
] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const strList = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : [];
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
const date = (struct: unknown): string | null => str(obj(struct).date);

/** The study's id, or null when it has none (a bad record). */
export function studyId(study: unknown): string | null {
  return str(obj(obj(obj(study).protocolSection).identificationModule).nctId);
}

/** `\>=` → `>=`, `\*` → `*`: CommonMark backslash escapes of ASCII punctuation. */
export function unescapeCommonMark(s: string): string {
  return s.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

/** Collapse runs of white space to single spaces and trim. */
/**
 * Runs of white space as one space, trimmed. The pattern leaves a lone space alone: replacing every space
 * of a text by a space was most of the cost (same result as `s.replace(/\s+/g, ' ').trim()`: a run is
 * matched whole from its first character, unless it is a single space).
 */
const SPACE_RUNS = /\s{2,}|[^\S ]/g;
export const normalizeSpace = (s: string): string => s.replace(SPACE_RUNS, ' ').trim();

const PHASE_LABELS: Record<string, string> = {
  EARLY_PHASE1: 'Early Phase 1',
  PHASE1: 'Phase 1',
  PHASE2: 'Phase 2',
  PHASE3: 'Phase 3',
  PHASE4: 'Phase 4',
  NA: 'Not Applicable',
};

/** The passage to embed: labelled lines, white space normalised, CommonMark escapes removed. Deterministic. */
export function buildText(r: Omit<PreparedRecord, 'text' | 'content_hash' | 'url'>): string {
  const lines: string[] = [];
  const add = (label: string, value: string | null | undefined) => {
    if (!value) return;
    const v = normalizeSpace(unescapeCommonMark(value));
    if (v) lines.push(`${label}: ${v}`);
  };
  add('Title', r.title);
  if (r.official_title && r.official_title !== r.title) add('Official title', r.official_title);
  add('Acronym', r.acronym);
  add('Conditions', r.conditions.join('; '));
  add('Keywords', r.keywords.join('; '));
  add(
    'Interventions',
    r.interventions
      .map((i) => [i.type ? i.type.charAt(0) + i.type.slice(1).toLowerCase().replace(/_/g, ' ') : null, i.name].filter(Boolean).join(': '))
      .filter(Boolean)
      .join('; '),
  );
  add('Phases', r.phases.map((p) => PHASE_LABELS[p] ?? p).join(', '));
  add('Summary', r.brief_summary);
  add('Eligibility', r.eligibility_criteria);
  return lines.join('\n');
}

export const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Map one API v2 study to a prepared record. The caller has checked that it has an id. `json`, when given,
 * is the study's own JSON text: `raw` then carries it as read (a RawJson), not re-serialized.
 */
export function prepareStudy(study: Obj, opts: { raw?: boolean; json?: string } = {}): PreparedRecord {
  const ps = obj(study.protocolSection);
  const id = obj(ps.identificationModule);
  const status = obj(ps.statusModule);
  const sponsors = obj(ps.sponsorCollaboratorsModule);
  const desc = obj(ps.descriptionModule);
  const conds = obj(ps.conditionsModule);
  const design = obj(ps.designModule);
  const arms = obj(ps.armsInterventionsModule);
  const elig = obj(ps.eligibilityModule);
  const locations = Array.isArray(obj(ps.contactsLocationsModule).locations)
    ? (obj(ps.contactsLocationsModule).locations as unknown[])
    : [];
  const enrollment = obj(design.enrollmentInfo).count;
  const nctId = str(id.nctId)!;
  const base = {
    nct_id: nctId,
    title: str(id.briefTitle),
    official_title: str(id.officialTitle),
    acronym: str(id.acronym),
    status: str(status.overallStatus),
    study_type: str(design.studyType),
    phases: strList(design.phases),
    conditions: strList(conds.conditions),
    keywords: strList(conds.keywords),
    interventions: (Array.isArray(arms.interventions) ? arms.interventions : [])
      .filter(isObj)
      .map((i) => ({ type: str(i.type), name: str(i.name) })),
    sponsor: str(obj(sponsors.leadSponsor).name),
    collaborators: (Array.isArray(sponsors.collaborators) ? sponsors.collaborators : [])
      .map((c) => str(obj(c).name))
      .filter((x): x is string => x !== null),
    start_date: date(status.startDateStruct),
    primary_completion_date: date(status.primaryCompletionDateStruct),
    completion_date: date(status.completionDateStruct),
    first_posted: date(status.studyFirstPostDateStruct),
    last_update_posted: date(status.lastUpdatePostDateStruct),
    enrollment: typeof enrollment === 'number' && Number.isInteger(enrollment) ? enrollment : null,
    has_results: study.hasResults === true,
    brief_summary: str(desc.briefSummary),
    detailed_description: str(desc.detailedDescription),
    eligibility_criteria: str(elig.eligibilityCriteria),
    sex: str(elig.sex),
    minimum_age: str(elig.minimumAge),
    maximum_age: str(elig.maximumAge),
    healthy_volunteers: bool(elig.healthyVolunteers),
    countries: [...new Set(locations.map((l) => str(obj(l).country)).filter((x): x is string => x !== null))].sort(),
    location_count: locations.length,
  };
  const text = buildText(base);
  const rec: PreparedRecord = {
    ...base,
    url: `https://clinicaltrials.gov/study/${encodeURIComponent(nctId)}`,
    text,
    content_hash: sha256(text),
  };
  // The API never sends a null section; Arrow input (a column per section) has nulls for absent ones: drop them.
  if (opts.raw !== false) {
    const hasNull = Object.values(study).includes(null);
    rec.raw = hasNull ? withoutNulls(study) : opts.json !== undefined ? new RawJson(opts.json) : study;
  }
  return rec;
}

/** Remove NUL characters (which Postgres text cannot hold) from every string; returns how many were removed. */
export function stripNul<T>(value: T): { value: T; removed: number } {
  if (!hasNul(value)) return { value, removed: 0 };
  let removed = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('\u0000')) return v;
      const cleaned = v.replace(/\u0000/g, '');
      removed += v.length - cleaned.length;
      return cleaned;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (isObj(v)) {
      const o: Obj = {};
      for (const [k, x] of Object.entries(v)) o[walk(k) as string] = walk(x);
      return o;
    }
    return v;
  };
  const out = walk(value) as T;
  return { value: out, removed };
}

function hasNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (Array.isArray(v)) return v.some(hasNul);
  if (isObj(v)) for (const k in v) if (k.includes('\u0000') || hasNul(v[k])) return true;
  return false;
}

/** A start year test: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` in or after `year`. */
export const startsInOrAfter = (d: string, year: number): boolean => Number(d.slice(0, 4)) >= year;

export type Dedupe = 'latest' | 'first' | 'none';

export interface PrepareOptions {
  raw?: boolean;
  startYear?: number;
  limit?: number;
  dedupe?: Dedupe;
  /** Where `--dedupe latest` spools the records (default: TMPDIR). */
  spoolDir?: string;
  /** Called for a bad record; throws to stop the run (no --rejects) or records it. */
  reject: (item: InputItem, reason: string) => void;
  /** Optional async filter (e.g. --skip-existing): return false to drop a prepared record. */
  keep?: (rec: PreparedRecord) => boolean | Promise<boolean>;
}

export interface PrepareStats {
  read: number;
  studies: number;
  out: number;
  rejected: number;
  duplicates: number;
  noStartDate: number;
  beforeStartYear: number;
  skipped: number;
  nulCleaned: number;
}

/** Unpack a page `{"studies":[…]}` or a JSON array into studies; a single study stays itself. */
function* unpack(item: InputItem): Generator<InputItem> {
  const v = item.value;
  if (Array.isArray(v)) {
    for (const s of v) yield { ...item, value: s, json: undefined };
  } else if (isObj(v) && Array.isArray(v.studies) && !('protocolSection' in v)) {
    for (const s of v.studies) yield { ...item, value: s, json: undefined };
  } else {
    yield item;
  }
}

/** A later date string (`YYYY-MM` < `YYYY-MM-DD` of the same month is fine as text order). */
const newer = (a: string | null, b: string | null): boolean => (a ?? '') > (b ?? '');

/**
 * Spool for `--dedupe latest`: keeping the latest of duplicate studies needs the whole input, so records
 * wait in an unlinked temporary file (nothing is left behind, even on kill -9) and only a small index
 * (id → spool slot, last update) stays in memory. It is about the size of the input (≈21 KB a study with
 * `raw`), so it goes in `dir` — beside the output file — rather than a RAM-backed /tmp.
 */
class Spool {
  private readonly fd: number;
  private offset = 0;
  private readonly slots: { offset: number; length: number }[] = [];
  constructor(private readonly dir: string) {
    try {
      const sub = mkdtempSync(join(dir, '.ct-prepare-spool-'));
      const path = join(sub, 'spool.ndjson');
      this.fd = openSync(path, 'w+');
      unlinkSync(path);
      rmdirSync(sub);
    } catch (err) {
      throw this.failed(err);
    }
  }
  private failed(err: unknown): RuntimeError {
    const where = fileError(this.dir, err).message; // `DIR: CODE: what`
    return new RuntimeError(`--dedupe latest: cannot write its spool (a copy of the input) in ${where}; free space there, set TMPDIR (without -o/--tee), or use --dedupe first`);
  }
  /** Spool a record: its fields as JSON, then (after a newline, which JSON text never holds) `raw` as its text. */
  add(rec: PreparedRecord): number {
    const { raw, ...fields } = rec;
    const rawText = raw === undefined ? '' : raw instanceof RawJson ? raw.json : JSON.stringify(raw);
    const buf = Buffer.from(JSON.stringify(fields) + '\n' + rawText, 'utf8');
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, this.offset + off);
    } catch (err) {
      throw this.failed(err);
    }
    this.slots.push({ offset: this.offset, length: buf.length });
    this.offset += buf.length;
    return this.slots.length - 1;
  }
  get(slot: number): PreparedRecord {
    const { offset, length } = this.slots[slot];
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) got += readSync(this.fd, buf, got, length - got, offset + got);
    const text = buf.toString('utf8');
    const nl = text.indexOf('\n');
    const rec = JSON.parse(text.slice(0, nl)) as PreparedRecord;
    if (nl + 1 < text.length) rec.raw = new RawJson(text.slice(nl + 1));
    return rec;
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * ct-prepare over an opened input. `--dedupe latest` on a regular NDJSON file takes two passes over it
 * (latest-scan.ts) instead of spooling every record; other inputs go through `prepareStream` as they come.
 * `bytesRead` tells progress how far the input has been read.
 */
export async function prepareInput(
  input: Input,
  opts: PrepareOptions,
  stats: PrepareStats,
): Promise<{ records: AsyncGenerator<PreparedRecord>; bytesRead: () => number }> {
  if ((opts.dedupe ?? 'latest') === 'latest' && input.format === 'ndjson' && input.sizeBytes !== undefined && input.name !== 'stdin') {
    const plan = await planLatest(input.name, input.name);
    if (plan) {
      // The superseded lines are counted here: the second pass never reads them. It gets one line per study
      // id, so it needs no map of the ids seen (≈ 150 bytes a study, 87 MB for the registry).
      stats.read += plan.duplicates;
      stats.studies += plan.duplicates;
      stats.duplicates += plan.duplicates;
      return { records: prepareStream(plan.items(), { ...opts, dedupe: 'none' }, stats), bytesRead: () => plan.bytesRead };
    }
  }
  return { records: prepareStream(input, opts, stats), bytesRead: () => input.bytesRead };
}

/** The whole ct-prepare transformation over input items. Stats are updated as it goes. */
export async function* prepareStream(
  items: AsyncIterable<InputItem>,
  opts: PrepareOptions,
  stats: PrepareStats,
): AsyncGenerator<PreparedRecord> {
  const dedupe = opts.dedupe ?? 'latest';
  // --dedupe latest: each id's spool slot, −1 when its latest version so far was filtered out.
  const seen = new Map<string, { slot: number; updated: string | null; listed: boolean }>();
  const spool = dedupe === 'latest' ? new Spool(opts.spoolDir ?? tmpdir()) : undefined;
  // --dedupe first needs only the ids seen: ≈ 8 bytes each instead of a Map entry's ≈ 150.
  const firstSeen = dedupe === 'first' ? new StudyIdSet() : undefined;
  const order: string[] = []; // ids in first-seen order of a version that passed (latest mode)
  let kept = 0; // distinct studies kept, for --limit
  try {
    outer: for await (const item of items) {
      stats.read++;
      if (item.error !== undefined) {
        stats.rejected++;
        opts.reject(item, item.error);
        continue;
      }
      for (const sub of unpack(item)) {
        stats.studies++;
        if (!isObj(sub.value)) {
          stats.rejected++;
          opts.reject(sub, `not a study object (got ${Array.isArray(sub.value) ? 'an array' : sub.value === null ? 'null' : typeof sub.value})`);
          continue;
        }
        const id = studyId(sub.value);
        if (!id) {
          stats.rejected++;
          opts.reject(sub, 'missing protocolSection.identificationModule.nctId');
          continue;
        }
        if (dedupe !== 'latest') {
          if (firstSeen?.has(id)) {
            stats.duplicates++;
            continue;
          }
          if (opts.limit !== undefined && kept >= opts.limit) break outer;
          // A filtered-out study's id counts as seen too, so a later copy of it is not taken as new.
          firstSeen?.add(id);
          const rec = await prepareOne(sub.value, sub.json, opts, stats);
          if (!rec) continue;
          kept++;
          stats.out++;
          yield rec;
          continue;
        }
        const updated = date(obj(obj(obj(sub.value).protocolSection).statusModule).lastUpdatePostDateStruct);
        const prev = seen.get(id);
        if (prev) {
          stats.duplicates++;
          if (newer(updated, prev.updated)) {
            // The latest version decides, filters included: dedupe first, then filter.
            prev.updated = updated;
            const rec = await prepareOne(sub.value, sub.json, opts, stats);
            if (!rec) {
              prev.slot = -1;
            } else if (prev.listed || opts.limit === undefined || kept < opts.limit) {
              prev.slot = spool!.add(rec);
              if (!prev.listed) (prev.listed = true), order.push(id), kept++;
            }
          }
          continue;
        }
        if (opts.limit !== undefined && kept >= opts.limit) break outer;
        const rec = await prepareOne(sub.value, sub.json, opts, stats);
        if (!rec) {
          // Filtered out: remember the id (and its date) so an older duplicate is not taken as new.
          seen.set(id, { slot: -1, updated, listed: false });
          continue;
        }
        kept++;
        seen.set(id, { slot: spool!.add(rec), updated: rec.last_update_posted, listed: true });
        order.push(id);
      }
    }
    if (spool) {
      // Emit in first-seen order, each id's latest version.
      for (const id of order) {
        const { slot } = seen.get(id)!;
        if (slot === -1) continue; // its latest version was filtered out
        stats.out++;
        yield spool.get(slot);
      }
    }
  } finally {
    spool?.close();
  }
}

async function prepareOne(study: Obj, json: string | undefined, opts: PrepareOptions, stats: PrepareStats): Promise<PreparedRecord | undefined> {
  // JSON text can hold a NUL only as the escape \u0000: without one in the line, there is nothing to clean.
  const { value, removed } = json !== undefined && !json.includes('\\u0000') ? { value: study, removed: 0 } : stripNul(study);
  if (removed > 0) stats.nulCleaned++;
  const rec = prepareStudy(value, { raw: opts.raw, json: removed > 0 ? undefined : json });
  if (opts.startYear !== undefined) {
    if (!rec.start_date) {
      stats.noStartDate++;
      return undefined;
    }
    if (!startsInOrAfter(rec.start_date, opts.startYear)) {
      stats.beforeStartYear++;
      return undefined;
    }
  }
  if (opts.keep && !(await opts.keep(rec))) {
    stats.skipped++;
    return undefined;
  }
  return rec;
}
