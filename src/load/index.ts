/**
 * `--index hnsw`: build (or rebuild) the HNSW cosine index after the load — never before it: loading into
 * an indexed table is about 5× slower (measured). A rerun that changed nothing keeps an existing index.
 */
import type { Db } from './connection.js';
import { quoteIdent, type TableName } from './schema.js';

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
export function indexName(table: string, column: string): string {
  let name = `${table}_${column}_hnsw`;
  while (Buffer.byteLength(name) > 63) name = name.slice(0, -1);
  return name;
}

export interface IndexResult {
  name: string;
  built: boolean;
  seconds: number;
  maintenanceWorkMem?: string;
}

export async function buildHnswIndex(
  db: Db,
  table: TableName,
  column: string,
  opts: { changed: boolean; maintenanceWorkMem?: string; dims: number },
): Promise<IndexResult> {
  const name = indexName(table.name, column);
  const qualified = (table.schema !== undefined ? quoteIdent(table.schema) + '.' : '') + quoteIdent(name);
  const { rows: found } = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [qualified]);
  if (found[0]?.oid && !opts.changed) return { name, built: false, seconds: 0 };
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table.sql}`);
  const mem = opts.maintenanceWorkMem ?? defaultMaintenanceWorkMem(Number(rows[0].n), opts.dims, db.kind === 'pglite');
  const started = Date.now();
  await db.query(`DROP INDEX IF EXISTS ${qualified}`);
  await db.query("SELECT set_config('maintenance_work_mem', $1, false)", [mem]);
  await db.query(`CREATE INDEX ${quoteIdent(name)} ON ${table.sql} USING hnsw (${quoteIdent(column)} vector_cosine_ops)`);
  return { name, built: true, seconds: (Date.now() - started) / 1000, maintenanceWorkMem: mem };
}
