/**
 * `--index hnsw`: the HNSW cosine index. A missing one (or one that is not what --index hnsw makes) is built
 * after the load, never before it: loading into an indexed table is about 5× slower (measured). An existing
 * one stays through a load that changes a small part of the table (Postgres inserts the new row versions
 * into the graph; searches keep using it); a load that changes much of it drops it and builds it again at
 * the end (see REBUILD_FRACTION).
 */
import type { Db } from './connection.js';
import { quoteIdent, type TableColumn, type TableName } from './schema.js';
import { FTS_EXPRESSION, TSV_COLUMN, TSV_COLUMN_TYPE } from '../search/sql.js';

/** Beyond this many rows PGlite's HNSW build gets very slow (5k rows ≈ 25 s; 100k did not finish in 25 min). */
export const PGLITE_COMFORT_ROWS = 20_000;

const MB = 1 << 20;

/** `maintenance_work_mem` that fits the graph: rows × dims × 4 bytes × 2, within [64 MB, 1 GB] (512 MB on PGlite). */
export function defaultMaintenanceWorkMem(rows: number, dims: number, pglite: boolean): string {
  const cap = pglite ? 512 : 1024;
  const mb = Math.min(cap, Math.max(64, Math.ceil((rows * dims * 4 * 2) / MB)));
  return `${mb}MB`;
}

/** Postgres truncates identifiers to 63 bytes; do it ourselves so the name we look up is the one created. */
export function indexName(table: string, column: string, kind = 'hnsw'): string {
  let name = `${table}_${column}_${kind}`;
  while (Buffer.byteLength(name) > 63) name = name.slice(0, -1);
  return name;
}

/**
 * Past this fraction of the table's rows changed by one load, dropping the index and building it again at the
 * end is faster than letting Postgres insert every new row version into the graph (bench/hnsw-crossover.mjs:
 * see its figures in the README). Below it, the index stays and searches keep using it during the load.
 */
export const REBUILD_FRACTION = 0.25;

export interface IndexResult {
  name: string;
  /** built: there was none (or it did not fit); rebuilt: dropped during a bulk load; updated/kept: in place. */
  action: 'built' | 'rebuilt' | 'updated' | 'kept';
  seconds: number;
  maintenanceWorkMem?: string;
  /** Rows inserted or updated by the load, and the table's rows before it. */
  changed?: number;
  rowsBefore?: number;
  /** Why an existing index was replaced. */
  reason?: string;
  /** ct-search's other indexes (full text, embedding model) built by this load. */
  searchIndexes?: string[];
}

/** The index ct-load manages for a vector column, and whether it is what `--index hnsw` makes. */
export interface IndexState {
  name: string;
  qualified: string;
  exists: boolean;
  /** Valid, HNSW, on this column, cosine operator class. */
  fits: boolean;
  /** What it is instead, when it exists and does not fit. */
  misfit?: string;
}

export async function inspectHnswIndex(db: Db, table: TableName, column: string): Promise<IndexState> {
  const name = indexName(table.name, column);
  const qualified = (table.schema !== undefined ? quoteIdent(table.schema) + '.' : '') + quoteIdent(name);
  const { rows } = await db.query<{ valid: boolean; am: string; col: string | null; opclass: string }>(
    `SELECT i.indisvalid AS valid, am.amname AS am, a.attname AS col, opc.opcname AS opclass
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
       JOIN pg_opclass opc ON opc.oid = i.indclass[0]
       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indexrelid = to_regclass($1)`,
    [qualified],
  );
  const r = rows[0];
  if (!r) return { name, qualified, exists: false, fits: false };
  const fits = r.valid && r.am === 'hnsw' && r.col === column && r.opclass === 'vector_cosine_ops';
  const misfit = fits ? undefined : r.valid ? `it was ${r.am} (${r.col ?? 'an expression'} ${r.opclass})` : 'it was invalid';
  return { name, qualified, exists: true, fits, misfit };
}

export async function dropIndex(db: Db, state: IndexState): Promise<void> {
  await db.query(`DROP INDEX IF EXISTS ${state.qualified}`);
}

/** Build the HNSW cosine index (dropping what has its name first). */
export async function buildHnswIndex(
  db: Db,
  table: TableName,
  column: string,
  state: IndexState,
  opts: { maintenanceWorkMem?: string; dims: number },
): Promise<Pick<IndexResult, 'seconds' | 'maintenanceWorkMem'>> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table.sql}`);
  const mem = opts.maintenanceWorkMem ?? defaultMaintenanceWorkMem(Number(rows[0].n), opts.dims, db.kind === 'pglite');
  const started = Date.now();
  await dropIndex(db, state);
  await db.query("SELECT set_config('maintenance_work_mem', $1, false)", [mem]);
  await db.query(`CREATE INDEX ${quoteIdent(state.name)} ON ${table.sql} USING hnsw (${quoteIdent(column)} vector_cosine_ops)`);
  return { seconds: (Date.now() - started) / 1000, maintenanceWorkMem: mem };
}

/**
 * The indexes ct-search relies on besides HNSW, built with it (`--index hnsw`) when missing:
 * - when the table has a `text` column: the stored tsvector column of `--hybrid` (TSV_COLUMN, generated from
 *   FTS_EXPRESSION: Postgres keeps it up to date on every write) and a GIN index on it. Adding the column to
 *   a loaded table rewrites it once, the table locked meanwhile (`--index hnsw` on 100,000 studies with their
 *   vectors: 98.8 → 113.5 s, the expression index no longer built); afterwards each written row costs one
 *   to_tsvector. The GIN index on the expression that earlier versions built is dropped once the column's is
 *   in place. A `text_tsv` column of the user's that is not a tsvector is left alone, and the expression
 *   index is built as before.
 * - a partial btree on `embedding_model` over the rows with a vector, so that ct-search learns the table's model
 *   (and that it holds one only) from two index probes instead of a scan of every row.
 * Returns what was built (indexes by name; the column as `text_tsv column`).
 */
export async function ensureSearchIndexes(db: Db, table: TableName, vectorColumn: string, columns: readonly TableColumn[]): Promise<string[]> {
  const has = (name: string) => columns.find((c) => c.name === name);
  const qualified = (name: string) => (table.schema !== undefined ? quoteIdent(table.schema) + '.' : '') + quoteIdent(name);
  const built: string[] = [];
  const wanted: Array<[name: string, using: string]> = [];
  const exprIndex = indexName(table.name, 'text', 'fts');
  let dropExprIndex = false;
  if (has('text')) {
    const tsv = has(TSV_COLUMN);
    if (!tsv) {
      await db.query(`ALTER TABLE ${table.sql} ADD COLUMN ${quoteIdent(TSV_COLUMN)} ${TSV_COLUMN_TYPE}`);
      built.push(`${TSV_COLUMN} column`);
    }
    if (!tsv || tsv.sqlType === 'tsvector') {
      wanted.push([indexName(table.name, TSV_COLUMN, 'fts'), `gin (${quoteIdent(TSV_COLUMN)})`]);
      dropExprIndex = true;
    } else {
      wanted.push([exprIndex, `gin (${FTS_EXPRESSION})`]);
    }
  }
  if (has('embedding_model')) {
    wanted.push([indexName(table.name, 'embedding_model', 'idx'), `btree (${quoteIdent('embedding_model')}) WHERE ${quoteIdent(vectorColumn)} IS NOT NULL`]);
  }
  for (const [name, using] of wanted) {
    const { rows } = await db.query<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)`, [qualified(name)]);
    if (rows[0]?.valid) continue;
    if (rows[0]) await db.query(`DROP INDEX ${qualified(name)}`); // an invalid one, left by an interrupted build
    await db.query(`CREATE INDEX ${quoteIdent(name)} ON ${table.sql} USING ${using}`);
    built.push(name);
  }
  if (dropExprIndex) await db.query(`DROP INDEX IF EXISTS ${qualified(exprIndex)}`);
  return built;
}

/** The summary's words for what happened to the index. */
export function describeIndex(ix: IndexResult, fmtSeconds: (s: number) => string): string {
  const also = ix.searchIndexes?.length ? `; built ${ix.searchIndexes.join(', ')} for ct-search` : '';
  return describeHnsw(ix, fmtSeconds) + also;
}

function describeHnsw(ix: IndexResult, fmtSeconds: (s: number) => string): string {
  const built = `in ${fmtSeconds(ix.seconds)} (maintenance_work_mem ${ix.maintenanceWorkMem})`;
  switch (ix.action) {
    case 'built':
      return `HNSW index ${ix.name} built ${built}${ix.reason ? `, replacing the old one: ${ix.reason}` : ''}`;
    case 'rebuilt':
      return `HNSW index ${ix.name} rebuilt ${built}: ${ix.changed} of ${ix.rowsBefore} rows changed, more than ${REBUILD_FRACTION * 100}%`;
    case 'updated':
      return `HNSW index ${ix.name} kept, updated in place (${ix.changed} ${ix.changed === 1 ? 'row' : 'rows'} changed)`;
    default:
      return `HNSW index ${ix.name} kept (nothing changed)`;
  }
}
