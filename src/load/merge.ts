/**
 * Writing one batch, in one transaction: rows whose ids are not in the table yet are COPYed straight into
 * it (one write per row: the bulk of a first load); rows whose ids exist with the row's digest (`digest`:
 * the table keeps the digest of each row as ct-load wrote it, see DIGEST_COLUMN) would change nothing and
 * are not sent at all (an unchanged rerun sends no row); the other rows whose ids exist are COPYed into a session-local
 * staging table and merged with `INSERT … ON CONFLICT DO UPDATE … WHERE (cols) IS DISTINCT FROM
 * (EXCLUDED cols)`, so an unchanged row is not rewritten (no dead tuple, little WAL). The comparison
 * covers every loaded column (content_hash only covers the embedded text: a status change must update).
 *
 * Two rules guard the rows already there:
 * - **Newer wins** (`version`): a record whose version column (for trials `last_update_posted`) is older
 *   than the row's, or missing while the row has one, never replaces it; it is counted as `older`. An equal
 *   version with other content does update (a newer ct-prepare, or a load setting, changed the fields).
 * - **A vector is never replaced by null for the same text** (`keepVectors`): when the record has no vector
 *   but its content_hash equals the row's, the row keeps its vector and its embedding_model.
 */
import type { Db } from './connection.js';
import { rowDigest } from './copy-binary.js';
import { quoteIdent, type TableName } from './schema.js';

export const STAGE = 'ct_load_stage';

export interface MergePlan {
  table: TableName;
  /** Loaded columns, in COPY order; includes the id column. */
  columns: string[];
  idField: string;
  /** Set `loaded_at = now()` on update (when the table has that column). */
  touchLoadedAt: boolean;
  /** Newer wins: the loaded column that orders versions; `collate` for text columns (byte order). */
  version?: { column: string; collate?: boolean };
  /** Keep the row's vectors (and model) when the record has none and the same content hash. */
  keepVectors?: { hash: string; vectors: string[]; model?: { column: string; vector: string } };
  /** The row digest column, the last of `columns`: each encoded row ends with its digest (RowEncoder `digest`). */
  digest?: string;
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
  /** Records older than the row in the table: not written. */
  older: number;
}

const list = (cols: string[], prefix = '') => cols.map((c) => prefix + quoteIdent(c)).join(', ');

/** The staging table for this session: the loaded columns only (CTAS copies no NOT NULL or defaults). */
export function stageSql(plan: MergePlan): string {
  return `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} ON COMMIT DELETE ROWS AS SELECT ${list(plan.columns)} FROM ${plan.table.sql} WITH NO DATA`;
}

/** The value a column gets from record `x` (EXCLUDED or a staging alias) over row `t`. */
function incoming(plan: MergePlan, c: string, x: string): string {
  const col = (a: string, name = c) => `${a}.${quoteIdent(name)}`;
  const k = plan.keepVectors;
  if (k) {
    const sameText = `${col(x, k.hash)} IS NOT DISTINCT FROM ${col('t', k.hash)}`;
    if (k.vectors.includes(c)) return `CASE WHEN ${col(x)} IS NULL AND ${sameText} THEN ${col('t')} ELSE ${col(x)} END`;
    if (c === k.model?.column) {
      return `CASE WHEN ${col(x, k.model.vector)} IS NULL AND ${sameText} THEN ${col('t')} ELSE ${col(x)} END`;
    }
  }
  return col(x);
}

/** True when record `x` would change row `t`. */
function differs(plan: MergePlan, rest: string[], x: string): string {
  return `ROW(${list(rest, 't.')}) IS DISTINCT FROM ROW(${rest.map((c) => incoming(plan, c, x)).join(', ')})`;
}

/** True when record `x` is older than row `t` (or has no version while the row has one). */
function older(plan: MergePlan, x: string): string {
  const v = plan.version!;
  const c = quoteIdent(v.column);
  const coll = v.collate ? ' COLLATE "C"' : '';
  return `(t.${c} IS NOT NULL AND (${x}.${c} IS NULL OR ${x}.${c}${coll} < t.${c}${coll}))`;
}

/**
 * The guarded upsert; returns one row: how many were inserted, updated, and kept as older. With a digest
 * column, a row with equal content and no digest yet (written before the table had the column, or set to
 * NULL by hand) gets the record's digest, so the next rerun skips it; those count as unchanged
 * (`refreshed`, subtracted from the updates by the caller). A row with equal content and another digest
 * (a record that differs only where the merge keeps the row's value, e.g. no vector for the same text) is
 * left alone: its digest still describes it.
 */
export function mergeSql(plan: MergePlan): string {
  const cols = plan.columns;
  const rest = cols.filter((c) => c !== plan.idField);
  const content = rest.filter((c) => c !== plan.digest);
  const id = quoteIdent(plan.idField);
  let conflict: string;
  const ctes: string[] = [];
  let olderCount = '0';
  let refreshedCount = '0';
  if (rest.length === 0) {
    conflict = 'DO NOTHING';
  } else {
    const sets = rest.map((c) => `${quoteIdent(c)} = ${incoming(plan, c, 'EXCLUDED')}`);
    if (plan.touchLoadedAt) sets.push(`${quoteIdent('loaded_at')} = now()`);
    // ROW(…): with a single column, plain parentheses would not make a row.
    const changes = (x: string) => (content.length ? differs(plan, content, x) : 'false');
    const noDigest = plan.digest ? `t.${quoteIdent(plan.digest)} IS NULL` : undefined;
    let guard = noDigest ? `(${changes('EXCLUDED')} OR ${noDigest})` : changes('EXCLUDED');
    // Same snapshot as the upsert: counts of the rows it leaves alone because they are older and would
    // change, and of the rows it updates for their digest alone.
    const staged = `FROM ${STAGE} s JOIN ${plan.table.sql} t ON t.${id} = s.${id}`;
    if (plan.version) {
      guard += ` AND NOT ${older(plan, 'EXCLUDED')}`;
      ctes.push(`o AS (SELECT count(*)::int AS n ${staged} WHERE ${older(plan, 's')} AND ${changes('s')})`);
      olderCount = '(SELECT n FROM o)';
    }
    if (noDigest) {
      ctes.push(`r AS (SELECT count(*)::int AS n ${staged} WHERE ${noDigest} AND NOT ${changes('s')})`);
      refreshedCount = '(SELECT n FROM r)';
    }
    conflict = `DO UPDATE SET ${sets.join(', ')} WHERE ${guard}`;
  }
  return (
    `WITH ${ctes.map((c) => c + ', ').join('')}w AS (INSERT INTO ${plan.table.sql} AS t (${list(cols)}) SELECT ${list(cols)} FROM ${STAGE} ` +
    `ON CONFLICT (${id}) ${conflict} RETURNING (xmax = 0) AS inserted) ` +
    `SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated, ` +
    `${olderCount} AS older, ${refreshedCount} AS refreshed FROM w`
  );
}

/**
 * Write one batch inside the caller's transaction. `direct` false sends every row through the merge
 * (used after a unique violation: another writer inserted some of the ids meanwhile).
 */
export async function writeBatch(db: Db, plan: MergePlan, batch: BatchRows, direct = true): Promise<BatchResult> {
  // id → the row's digest (null: none, or no digest column)
  const existing = new Map<string, Uint8Array | null>();
  if (direct) {
    const id = quoteIdent(plan.idField);
    const digest = plan.digest ? quoteIdent(plan.digest) : 'NULL::bytea';
    const { rows } = await db.query<{ id: unknown; d: Uint8Array | null }>(
      `SELECT ${id} AS id, ${digest} AS d FROM ${plan.table.sql} WHERE ${id} = ANY($1)`,
      [batch.ids],
    );
    for (const r of rows) existing.set(String(r.id), r.d);
  }
  const fresh: Buffer[] = [];
  const known: Buffer[] = [];
  let same = 0;
  batch.rows.forEach((row, i) => {
    const key = String(batch.ids[i]);
    if (!direct) return known.push(row);
    if (!existing.has(key)) return fresh.push(row);
    const d = existing.get(key);
    if (plan.digest && d && Buffer.compare(d, rowDigest(row)) === 0) return same++;
    known.push(row);
  });
  const target = (t: string) => `${t} (${list(plan.columns)})`;
  if (fresh.length) await db.copyBinary(target(plan.table.sql), fresh);
  if (known.length === 0) return { inserted: fresh.length, updated: 0, unchanged: same, older: 0 };
  await db.copyBinary(target(STAGE), known);
  const { rows } = await db.query<{ inserted: number; updated: number; older: number; refreshed: number }>(mergeSql(plan));
  const { inserted, older: kept, refreshed } = rows[0];
  const updated = rows[0].updated - refreshed;
  return { inserted: fresh.length + inserted, updated, older: kept, unchanged: same + known.length - inserted - updated - kept };
}
