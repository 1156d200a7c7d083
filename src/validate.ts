/**
 * Option values, checked in one place for every bin: each check throws a UsageError (exit 2) worded the
 * same way in every tool, `--flag must be …, got VALUE`. Values arrive parsed by yargs (numbers may be NaN).
 */
import { UsageError } from './io/errors.js';
import { redactUrl } from './io/redact.js';

const got = (v: unknown) => (Number.isNaN(v) ? 'a value that is not a number' : String(v));

/** A whole number in [min, max] (undefined passes: the option was not given). */
export function whole(flag: string, v: number | undefined, min: number, max = Infinity): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) {
    throw new UsageError(`--${flag} must be a whole number from ${min}${max < Infinity ? ` to ${max}` : ' up'}, got ${got(v)}`);
  }
}

/** A number above 0 (`orZero`: 0 allowed too), e.g. seconds or a rate. */
export function positive(flag: string, v: number | undefined, what: string, orZero = false): void {
  if (v !== undefined && !(Number.isFinite(v) && (orZero ? v >= 0 : v > 0))) {
    throw new UsageError(`--${flag} must be ${what} ${orZero ? '≥ 0' : 'above 0'}, got ${got(v)}`);
  }
}

/** A four-digit year. */
export function year(flag: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1000 && v <= 9999)) {
    throw new UsageError(`--${flag} must be a four-digit year (YYYY), got ${got(v)}`);
  }
}

/** A calendar date YYYY-MM-DD that exists. */
export function isoDate(flag: string, v: string | undefined): void {
  if (v !== undefined && !(/^\d{4}-\d{2}-\d{2}$/.test(v) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v))) {
    throw new UsageError(`--${flag} must be a date YYYY-MM-DD, got ${got(v)}`);
  }
}

/** Text that must not be empty (or only white space). */
export function nonEmpty(flag: string, v: string | undefined): void {
  if (v !== undefined && v.trim() === '') throw new UsageError(`--${flag} must not be empty`);
}

/** A Postgres memory size: 512MB, 1GB, 65536 (kB). */
export function memSize(flag: string, v: string | undefined): void {
  if (v !== undefined && !/^\d+\s*(kB|MB|GB|TB)?$/.test(v)) throw new UsageError(`--${flag} must look like 512MB or 1GB, got ${got(v)}`);
}

/** An http(s) URL (shown without its credentials). */
/** A repeatable option with comma lists → its values (`--status a,b --status c` → a, b, c). */
export function listValues(v: readonly string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The API's overall statuses (ClinicalTrials.gov API v2, `Status`). */
export const STATUSES = [
  'ACTIVE_NOT_RECRUITING', 'COMPLETED', 'ENROLLING_BY_INVITATION', 'NOT_YET_RECRUITING', 'RECRUITING', 'SUSPENDED',
  'TERMINATED', 'WITHDRAWN', 'AVAILABLE', 'NO_LONGER_AVAILABLE', 'TEMPORARILY_NOT_AVAILABLE', 'APPROVED_FOR_MARKETING',
  'WITHHELD', 'UNKNOWN',
] as const;

/** The API's phases (`Phase`). */
export const PHASES = ['NA', 'EARLY_PHASE1', 'PHASE1', 'PHASE2', 'PHASE3', 'PHASE4'] as const;

/** The API's study types (`StudyType`). */
export const STUDY_TYPES = ['EXPANDED_ACCESS', 'INTERVENTIONAL', 'OBSERVATIONAL'] as const;

/** `not yet recruiting`, `Not-Yet-Recruiting` → `NOT_YET_RECRUITING`. */
const enumCase = (s: string) => s.trim().toUpperCase().replace(/[\s-]+/g, '_');

/** `2`, `phase 2`, `Phase2`, `PHASE2`, `early phase 1`, `na` → the API's phase codes (others upper-cased). */
export function normalizePhase(p: string): string {
  const s = p.trim().toUpperCase().replace(/[\s_-]+/g, '');
  if (/^\d$/.test(s)) return `PHASE${s}`;
  if (/^PHASE\d$/.test(s)) return s;
  if (/^EARLY(PHASE)?1$/.test(s)) return 'EARLY_PHASE1';
  if (s === 'NA' || s === 'NOTAPPLICABLE') return 'NA';
  return p.trim().toUpperCase();
}

function oneOf(flag: string, values: string[], valid: readonly string[]): string[] {
  if (values.length === 0) throw new UsageError(`--${flag} needs a value: ${valid.join(', ')}`);
  const bad = values.filter((v) => !valid.includes(v));
  if (bad.length) throw new UsageError(`--${flag}: unknown ${bad.map(got).join(', ')}; valid: ${valid.join(', ')}`);
  return values;
}

/** `--status` values (repeatable, comma lists, any case) → API statuses; unknown ones are a usage error. */
export function statuses(flag: string, v: readonly string[] | string | undefined): string[] | undefined {
  const list = listValues(v);
  return list && oneOf(flag, list.map(enumCase), STATUSES);
}

/** `--phase` values → API phases; unknown ones are a usage error. */
export function phases(flag: string, v: readonly string[] | string | undefined): string[] | undefined {
  const list = listValues(v);
  return list && oneOf(flag, list.map(normalizePhase), PHASES);
}

/** `--study-type` → an API study type; unknown is a usage error. */
export function studyType(flag: string, v: string | undefined): string | undefined {
  return v === undefined ? undefined : oneOf(flag, [enumCase(v)], STUDY_TYPES)[0];
}
