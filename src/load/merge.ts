/**
 * Writing one batch, in one transaction: rows whose ids are not in the table yet are COPYed straight into
 * it (one write per row: the bulk of a first load); rows whose ids exist are COPYed into a session-local
 * staging table and merged with `INSERT … ON CONFLICT DO UPDATE … WHERE (cols) IS DISTINCT FROM
 * (EXCLUDED cols)`, so an unchanged row is not rewritten (no dead tuple, little WAL). The comparison
 * covers every loaded column (content_hash only covers the embedded text: a status change must update).
 */
import type { Db } from './connection.js';
import { quoteIdent, type TableName } from './schema.js';

export const STAGE = 'ct_load_stage';

export interface MergePlan {
  table: TableName;
  /** Loaded columns, in COPY order; includes the id column. */
  columns: string[];
  idField: string;
  /** Set `loaded_at = now()` on update (when the table has that column). */
  touchLoadedAt: boolean;
}

export interface BatchRows {
  /** Encoded COPY rows, one per distinct id. */
  rows: Buffer[];
  /** The id of each row (same order). */
  ids: unknown[];
}

export interface BatchResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

const list = (cols: string[], prefix = '') => cols.map((c) => prefix + quoteIdent(c)).join(', ');

/** The staging table for this session: the loaded columns only (CTAS copies no NOT NULL or defaults). */
export function stageSql(plan: MergePlan): string {
  return `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} ON COMMIT DELETE ROWS AS SELECT ${list(plan.columns)} FROM ${plan.table.sql} WITH NO DATA`;
}

/** The guarded upsert; returns one row: how many were inserted and updated. */
export function mergeSql(plan: MergePlan): string {
  const cols = plan.columns;
  const rest = cols.filter((c) => c !== plan.idField);
  const id = quoteIdent(plan.idField);
  let conflict: string;
  if (rest.length === 0) {
    conflict = 'DO NOTHING';
  } else {
    const sets = rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    if (plan.touchLoadedAt) sets.push(`${quoteIdent('loaded_at')} = now()`);
    // ROW(…): with a single column, plain parentheses would not make a row.
    conflict = `DO UPDATE SET ${sets.join(', ')} WHERE ROW(${list(rest, 't.')}) IS DISTINCT FROM ROW(${list(rest, 'EXCLUDED.')})`;
  }
  return (
    `WITH w AS (INSERT INTO ${plan.table.sql} AS t (${list(cols)}) SELECT ${list(cols)} FROM ${STAGE} ` +
    `ON CONFLICT (${id}) ${conflict} RETURNING (xmax = 0) AS inserted) ` +
    `SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM w`
  );
}

/**
 * Write one batch inside the caller's transaction. `direct` false sends every row through the merge
 * (used after a unique violation: another writer inserted some of the ids meanwhile).
 */
export async function writeBatch(db: Db, plan: MergePlan, batch: BatchRows, direct = true): Promise<BatchResult> {
  const existing = new Set<string>();
  if (direct) {
    const { rows } = await db.query<{ id: unknown }>(
      `SELECT ${quoteIdent(plan.idField)} AS id FROM ${plan.table.sql} WHERE ${quoteIdent(plan.idField)} = ANY($1)`,
      [batch.ids],
    );
    for (const r of rows) existing.add(String(r.id));
  }
  const fresh: Buffer[] = [];
  const known: Buffer[] = [];
  batch.rows.forEach((row, i) => (direct && !existing.has(String(batch.ids[i])) ? fresh : known).push(row));
  const target = (t: string) => `${t} (${list(plan.columns)})`;
  if (fresh.length) await db.copyBinary(target(plan.table.sql), fresh);
  if (known.length === 0) return { inserted: fresh.length, updated: 0, unchanged: 0 };
  await db.copyBinary(target(STAGE), known);
  const { rows } = await db.query<{ inserted: number; updated: number }>(mergeSql(plan));
  const { inserted, updated } = rows[0];
  return { inserted: fresh.length + inserted, updated, unchanged: known.length - inserted - updated };
}
