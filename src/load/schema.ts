/**
 * Table names and columns: identifier quoting, qualified-name parsing, reading a table's columns, and the
 * DDL of `--create-table` (types from the prepared-record fields, or inferred from records for other data).
 * Identifiers are always quoted and used exactly as written (no case folding): a name is never SQL.
 */
import { UsageError } from '../io/errors.js';
import { Utf8Text } from '../io/rawjson.js';
import { PREPARED_FIELDS } from '../prepare.js';
import { isBinaryType, type BinaryType } from './copy-binary.js';
import type { Db } from './connection.js';

export const quoteIdent = (name: string): string => '"' + name.replace(/"/g, '""') + '"';

export interface TableName {
  schema?: string;
  name: string;
  /** `"schema"."name"` or `"name"`: safe to put into SQL. */
  sql: string;
}

/**
 * `table`, `schema.table`, or with double quotes around parts that contain dots (`"my.schema"."t"`,
 * `""` inside quotes is one quote). Anything else, quotes and semicolons included, is part of the name.
 */
export function parseTableName(text: string): TableName {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quote in table name ${text}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i++];
      }
      if (i < text.length && text[i] !== '.') throw new Error(`unexpected text after a quoted part in table name ${text}`);
    } else {
      const dot = text.indexOf('.', i);
      part = text.slice(i, dot === -1 ? text.length : dot);
      i = dot === -1 ? text.length : dot;
    }
    if (part === '') throw new Error(`empty part in table name "${text}"`);
    parts.push(part);
    if (i >= text.length) break;
    i++; // the dot
  }
  if (parts.length > 2) throw new Error(`table name ${text} has more than two parts (use "schema.table", quote parts containing dots)`);
  const [schema, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  return { schema, name, sql: (schema !== undefined ? quoteIdent(schema) + '.' : '') + quoteIdent(name) };
}

/** `--table` as given on a command line: a bad name is a usage error (exit 2). */
export function tableOption(text: string): TableName {
  try {
    return parseTableName(text);
  } catch (err) {
    throw new UsageError(`--table: ${(err as Error).message}`);
  }
}

/** A column of an existing table. `type` is the encoder type, or undefined when ct-load cannot encode it. */
export interface TableColumn {
  name: string;
  /** As Postgres shows it, e.g. `vector(1536)`, `text[]`. */
  sqlType: string;
  type: BinaryType | undefined;
  /** Vector dimension from the type modifier; undefined for `vector` without one. */
  dims?: number;
  /** A generated column (GENERATED ALWAYS AS … STORED): Postgres computes it, nobody writes it. */
  generated?: boolean;
}

/** The table's columns, or undefined when it does not exist. */
export async function readTableColumns(db: Db, table: TableName): Promise<TableColumn[] | undefined> {
  const found = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::oid::text AS oid', [table.sql]);
  const oid = found.rows[0]?.oid;
  if (!oid) return undefined;
  const { rows } = await db.query<{ name: string; sql_type: string; typname: string; elem: string | null; typmod: number; generated: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, t.typname, e.typname AS elem, a.atttypmod AS typmod,
            a.attgenerated <> '' AS generated
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid],
  );
  return rows.map((r) => {
    const t = r.elem ? `${r.elem}[]` : r.typname;
    return {
      name: r.name,
      sqlType: r.sql_type,
      type: isBinaryType(t) ? t : undefined,
      dims: t === 'vector' && Number(r.typmod) > 0 ? Number(r.typmod) : undefined,
      ...(r.generated ? { generated: true } : {}),
    };
  });
}

/** The prepared dates that can be month-only (`YYYY-MM`): each gets a `<name>_precision` column. */
export const PARTIAL_DATES = ['start_date', 'primary_completion_date', 'completion_date'] as const;
export const precisionColumn = (date: string): string => `${date}_precision`;

/**
 * Column types of prepared records (ct-prepare's fields). Dates are `date`: a month-only date is stored as
 * the first of that month, and its `<name>_precision` column says `month` (or `day`, `year`).
 */
export const PREPARED_TYPES: Record<string, string> = {
  ...Object.fromEntries(PREPARED_FIELDS.map((f) => [f, 'text'])),
  start_date: 'date',
  primary_completion_date: 'date',
  completion_date: 'date',
  first_posted: 'date',
  last_update_posted: 'date',
  phases: 'text[]',
  conditions: 'text[]',
  keywords: 'text[]',
  collaborators: 'text[]',
  countries: 'text[]',
  interventions: 'jsonb',
  raw: 'jsonb',
  enrollment: 'integer',
  location_count: 'integer',
  has_results: 'boolean',
  healthy_volunteers: 'boolean',
  embedding_model: 'text',
};

/** A list of numbers: `number[]` from NDJSON, or a Float32Array view from Arrow input (see ReadOptions). */
export const isNumVector = (v: unknown): v is ArrayLike<number> =>
  v instanceof Float32Array || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)));

/** Arrays and typed arrays: what a vector field holds, well-formed or not. */
const isListLike = (v: unknown): boolean => Array.isArray(v) || ArrayBuffer.isView(v);

/**
 * The SQL type for a field from its non-null values in the first batch (none: text). A field is a vector
 * column when it holds well-formed vectors (lists of finite numbers) in most records, or in any record when
 * it is the embedding field: a malformed vector (a non-number inside, NaN, the wrong length, not a list) is
 * then that record's problem (it is rejected when loaded), never a reason to make the column `jsonb`. The
 * dimension is the most common length among the well-formed vectors.
 */
export function inferSqlType(values: unknown[], opts: { vectorField?: boolean } = {}): string {
  if (values.length === 0) return 'text';
  if (values.every((v) => typeof v === 'string' || v instanceof Utf8Text)) return 'text';
  if (values.every((v) => typeof v === 'boolean')) return 'boolean';
  if (values.every((v) => typeof v === 'number' && Number.isInteger(v))) {
    return values.every((v) => Math.abs(v as number) <= 2 ** 31 - 1) ? 'integer' : 'bigint';
  }
  if (values.every((v) => typeof v === 'number')) return 'double precision';
  if (values.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'))) return 'text[]';
  const vectors = values.filter(isNumVector);
  const mostly = vectors.length * 2 > values.length && vectors.length * 2 > values.filter(isListLike).length;
  if (vectors.length > 0 && (mostly || opts.vectorField)) {
    const counts = new Map<number, number>();
    for (const v of vectors) counts.set(v.length, (counts.get(v.length) ?? 0) + 1);
    let dims = vectors[0]!.length;
    for (const [n, c] of counts) if (c > counts.get(dims)!) dims = n;
    return `vector(${dims})`;
  }
  return 'jsonb';
}

export interface ColumnDef {
  name: string;
  sqlType: string;
}

/**
 * Columns for `--create-table` from the first batch: fields in order of appearance, prepared fields with
 * their fixed types, others inferred; vector columns get `dimensions` when given.
 */
export function columnsFromRecords(
  records: Record<string, unknown>[],
  opts: { idField: string; dimensions?: number; noEmbeddings: boolean },
): ColumnDef[] {
  const values = new Map<string, unknown[]>();
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      let list = values.get(k);
      if (!list) values.set(k, (list = []));
      if (v !== null && v !== undefined) list.push(v);
    }
  }
  const cols: ColumnDef[] = [];
  for (const [name, vs] of values) {
    if (OWN_COLUMNS.includes(name)) continue;
    let sqlType = PREPARED_TYPES[name] ?? inferSqlType(vs, { vectorField: name === 'embedding' });
    if (name === 'embedding' && vs.length === 0 && opts.dimensions) sqlType = `vector(${opts.dimensions})`;
    if (sqlType.startsWith('vector(')) {
      if (opts.noEmbeddings) continue;
      if (opts.dimensions) sqlType = `vector(${opts.dimensions})`;
    }
    if (name === 'embedding_model' && opts.noEmbeddings) continue;
    cols.push({ name, sqlType });
  }
  for (const d of PARTIAL_DATES) {
    const at = cols.findIndex((c) => c.name === d);
    if (at >= 0 && cols[at].sqlType === 'date' && !values.has(precisionColumn(d))) {
      cols.splice(at + 1, 0, { name: precisionColumn(d), sqlType: 'text' });
    }
  }
  if (!values.has('embedding') && opts.dimensions && !opts.noEmbeddings) {
    cols.push({ name: 'embedding', sqlType: `vector(${opts.dimensions})` });
    if (!values.has('embedding_model')) cols.push({ name: 'embedding_model', sqlType: 'text' });
  }
  if (!cols.some((c) => c.name === opts.idField)) throw new Error(`the records have no field "${opts.idField}" (see --id-field)`);
  return cols;
}

/**
 * ct-load's own column: the digest of the row as ct-load last wrote it (see RowEncoder's `digest`). A record
 * whose encoded row has the row's digest would change nothing, so a rerun drops it before sending it. A
 * table without this column loads the same, only every existing row is sent and compared by the server.
 */
export const DIGEST_COLUMN = 'row_digest';
export const DIGEST_TYPE = 'bytea';

/** Columns ct-load fills itself, never from a record field. */
export const OWN_COLUMNS: readonly string[] = ['loaded_at', DIGEST_COLUMN];

/** `CREATE TABLE` with the id as primary key, `loaded_at` and the row digest. */
export function createTableSql(table: TableName, cols: ColumnDef[], idField: string): string {
  const defs = cols.map((c) => `${quoteIdent(c.name)} ${c.sqlType}${c.name === idField ? ' NOT NULL' : ''}`);
  defs.push(`${quoteIdent('loaded_at')} timestamptz NOT NULL DEFAULT now()`);
  defs.push(`${quoteIdent(DIGEST_COLUMN)} ${DIGEST_TYPE}`);
  defs.push(`PRIMARY KEY (${quoteIdent(idField)})`);
  return `CREATE TABLE ${table.sql} (\n  ${defs.join(',\n  ')}\n)`;
}

/** What each prepared column holds, for `COMMENT ON COLUMN` (psql `\d+` shows them). */
const COLUMN_COMMENTS: Record<string, string> = {
  nct_id: 'ClinicalTrials.gov identifier (NCT + 8 digits); the primary key',
  title: 'brief title',
  official_title: 'official title',
  acronym: 'study acronym',
  status: 'overall status, e.g. RECRUITING, COMPLETED',
  study_type: 'INTERVENTIONAL, OBSERVATIONAL or EXPANDED_ACCESS',
  phases: 'phase codes, e.g. {PHASE2,PHASE3}; NA when not applicable',
  conditions: 'conditions or diseases studied',
  keywords: 'keywords given by the sponsor',
  interventions: 'interventions as [{"type", "name"}]',
  sponsor: 'lead sponsor',
  collaborators: 'collaborating organisations',
  start_date: 'study start (actual or anticipated); a month-only date is the first of the month, see start_date_precision',
  start_date_precision: 'precision of start_date as given: day, month or year',
  primary_completion_date: 'primary completion; a month-only date is the first of the month, see primary_completion_date_precision',
  primary_completion_date_precision: 'precision of primary_completion_date as given: day, month or year',
  completion_date: 'study completion; a month-only date is the first of the month, see completion_date_precision',
  completion_date_precision: 'precision of completion_date as given: day, month or year',
  first_posted: 'date first posted on ClinicalTrials.gov',
  last_update_posted: 'date of the last update posted (the version column of incremental loads)',
  enrollment: 'enrollment count (actual or anticipated)',
  has_results: 'whether results are posted',
  brief_summary: 'brief summary (Markdown as given)',
  detailed_description: 'detailed description (Markdown as given)',
  eligibility_criteria: 'eligibility criteria (Markdown as given)',
  sex: 'ALL, FEMALE or MALE',
  minimum_age: 'minimum age as given, e.g. 18 Years',
  maximum_age: 'maximum age as given',
  healthy_volunteers: 'whether healthy volunteers are accepted',
  countries: 'distinct countries of the locations, sorted',
  location_count: 'number of locations',
  url: 'the study page on ClinicalTrials.gov',
  text: 'the passage that was embedded (labelled title, conditions, interventions, summary, eligibility …)',
  content_hash: 'hex SHA-256 of text: unchanged text, unchanged vector',
  raw: 'the study exactly as the ClinicalTrials.gov API v2 returned it',
  embedding: 'embedding of text (cosine distance: embedding <=> query)',
  embedding_model: 'provider/model@dimensions that made embedding',
  loaded_at: 'when ct-load last wrote this row',
  [DIGEST_COLUMN]: 'SHA-256 of the row as ct-load last wrote it: a rerun skips records with the same digest (set it to NULL after changing a row by other means)',
};

/** `COMMENT ON` statements for a table created by ct-load: the known columns, and a note for the others. */
export function commentSql(table: TableName, cols: ColumnDef[]): string[] {
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const out = [`COMMENT ON TABLE ${table.sql} IS ${lit('loaded by ct-load (ct-pipeline); merged by id, one row per record')}`];
  for (const name of [...cols.map((c) => c.name), ...OWN_COLUMNS]) {
    const text = COLUMN_COMMENTS[name] ?? `the records' field ${name} (type inferred by ct-load)`;
    out.push(`COMMENT ON COLUMN ${table.sql}.${quoteIdent(name)} IS ${lit(text)}`);
  }
  return out;
}

/** The precision of a date as given: `YYYY` year, `YYYY-MM` month, else day; null for no date. */
export function datePrecision(v: unknown): string | null {
  if (typeof v !== 'string') return v == null ? null : 'day';
  if (/^\d{4}$/.test(v.trim())) return 'year';
  if (/^\d{4}-\d{2}$/.test(v.trim())) return 'month';
  return 'day';
}

/** Make sure pgvector is there: create it if missing (needs the privilege), tolerate its absence of rights if present. */
export async function ensureVectorExtension(db: Db): Promise<void> {
  const { rows } = await db.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'");
  if (rows.length) return;
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  } catch (err) {
    throw new Error(`the pgvector extension is not installed and could not be created: ${(err as Error).message}`);
  }
}
