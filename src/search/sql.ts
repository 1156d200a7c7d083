/**
 * ct-search's SQL: a cosine nearest-neighbour query (`<=>`, served by the HNSW index when there is one),
 * optional filters as parameterised WHERE clauses, and `--hybrid`: reciprocal rank fusion of the vector
 * ranking with Postgres full-text ranking over `text`. User input only ever travels as parameters.
 */
import { quoteIdent } from '../load/schema.js';
import { normalizePhase } from '../validate.js';

export interface SearchFilters {
  status?: string[];
  phase?: string[];
  condition?: string;
  country?: string;
  startYear?: number;
  studyType?: string;
  /** `date` (tables from this version) or `text` (older tables: `YYYY-MM` or `YYYY-MM-DD`); default date. */
  startDateType?: 'date' | 'text';
}

export interface SearchSql {
  sql: string;
  params: unknown[];
}

/** `LIKE` pattern for a case-insensitive substring: the user's `%` and `_` match themselves. */
export const likeContains = (s: string): string => `%${s.replace(/[\\%_]/g, (m) => '\\' + m)}%`;

/** The WHERE clauses for the filters; `next` numbers the parameters. Columns named here must exist. */
export function filterClauses(f: SearchFilters, params: unknown[]): { clauses: string[]; columns: string[] } {
  const clauses: string[] = [];
  const columns: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.status?.length) {
    columns.push('status');
    clauses.push(`"status" = ANY(${p(f.status.map((s) => s.trim().toUpperCase()))}::text[])`);
  }
  if (f.phase?.length) {
    columns.push('phases');
    clauses.push(`"phases" && ${p(f.phase.map(normalizePhase))}::text[]`);
  }
  if (f.condition) {
    columns.push('conditions');
    clauses.push(`EXISTS (SELECT 1 FROM unnest("conditions") AS c(v) WHERE c.v ILIKE ${p(likeContains(f.condition))})`);
  }
  if (f.country) {
    columns.push('countries');
    clauses.push(`EXISTS (SELECT 1 FROM unnest("countries") AS c(v) WHERE lower(c.v) = lower(${p(f.country)}))`);
  }
  if (f.startYear !== undefined) {
    columns.push('start_date');
    clauses.push(
      f.startDateType === 'text'
        ? `substr("start_date", 1, 4) >= ${p(String(f.startYear))}`
        : `"start_date" >= make_date(${p(f.startYear)}::int, 1, 1)`,
    );
  }
  if (f.studyType) {
    columns.push('study_type');
    clauses.push(`"study_type" = ${p(f.studyType.trim().toUpperCase())}`);
  }
  return { clauses, columns };
}

export interface QueryShape {
  table: string; // quoted, safe SQL
  idColumn: string;
  embeddingColumn: string;
  /** Columns to return (never raw or the vector), unquoted names. */
  select: string[];
  limit: number;
  hybrid: boolean;
  /** Candidates per ranking before fusion (hybrid only). */
  pool?: number;
  /** The table's stored tsvector column (TSV_COLUMN), if it has one; else the expression is computed per row. */
  tsvColumn?: string;
}

/**
 * The full-text expression of `--hybrid`; ct-load's `--index hnsw` builds a GIN index on exactly this expression
 * (see src/load/index.ts), so the planner can use it.
 */
export const FTS_EXPRESSION = `to_tsvector('english', coalesce("text", ''))`;

/**
 * The stored form of FTS_EXPRESSION that `--index hnsw` adds (a generated column, GIN-indexed): ranking the
 * matches with `ts_rank_cd` needs each match's tsvector, and the expression computed it again for every match
 * (about 1 ms a row here: 545 matches took 583 ms of a query on 100,000 studies, 35 ms from the column).
 */
export const TSV_COLUMN = 'text_tsv';
export const TSV_COLUMN_TYPE = `tsvector GENERATED ALWAYS AS (${FTS_EXPRESSION}) STORED`;

/** The search query. Parameter $1 is the query vector (pgvector text form), $2 the query text when hybrid. */
export function searchSql(shape: QueryShape, filters: SearchFilters, vectorText: string, queryText: string): SearchSql {
  const params: unknown[] = [vectorText];
  if (shape.hybrid) params.push(queryText);
  const { clauses } = filterClauses(filters, params);
  const emb = quoteIdent(shape.embeddingColumn);
  const id = quoteIdent(shape.idColumn);
  const where = [`${emb} IS NOT NULL`, ...clauses].join(' AND ');
  const cols = shape.select.map((c) => `t.${quoteIdent(c)}`).join(', ');
  params.push(shape.limit);
  const limit = `$${params.length}`;
  if (!shape.hybrid) {
    return {
      sql: `SELECT ${cols}, 1 - (t.${emb} <=> $1::vector) AS score FROM ${shape.table} t WHERE ${where} ORDER BY t.${emb} <=> $1::vector LIMIT ${limit}`,
      params,
    };
  }
  params.push(shape.pool ?? 100);
  const pool = `$${params.length}`;
  // RRF (Cormack et al. 2009): score = Σ 1/(60 + rank) over the rankings a row appears in.
  const tsv = shape.tsvColumn ? quoteIdent(shape.tsvColumn) : FTS_EXPRESSION;
  const sql = `WITH q AS (SELECT websearch_to_tsquery('english', $2) AS q),
v AS (SELECT ${id} AS id, row_number() OVER (ORDER BY ${emb} <=> $1::vector) AS r
        FROM ${shape.table} WHERE ${where} ORDER BY ${emb} <=> $1::vector LIMIT ${pool}),
f AS (SELECT ${id} AS id, row_number() OVER (ORDER BY ts_rank_cd(${tsv}, q.q) DESC, ${id}) AS r
        FROM ${shape.table}, q WHERE ${where} AND ${tsv} @@ q.q ORDER BY ts_rank_cd(${tsv}, q.q) DESC, ${id} LIMIT ${pool}),
fused AS (SELECT coalesce(v.id, f.id) AS id, coalesce(1.0 / (60 + v.r), 0) + coalesce(1.0 / (60 + f.r), 0) AS score
        FROM v FULL JOIN f ON v.id = f.id)
SELECT ${cols}, fused.score::float8 AS score FROM fused JOIN ${shape.table} t ON t.${id} = fused.id
 ORDER BY fused.score DESC, t.${id} LIMIT ${limit}`;
  return { sql, params };
}
