/**
 * `ct-prepare --skip-existing`: which studies are already in the table. The whole id → content_hash map
 * is read once, at the first record, in keyset-paginated pages (no cursor, no huge result), then the
 * connection is closed: one query per page instead of one per record, which matters on a remote server.
 * Memory: ids plus the first 16 hex digits (64 bits) of each hash, about 100 bytes a row — fine up to a
 * few million rows. Closing before the first record is emitted also lets a PGlite pipeline
 * (`ct-prepare --skip-existing | … | ct-load`) work: only one process has the PGlite directory open at once.
 */
import type { Db } from './connection.js';
import { quoteIdent, readTableColumns, type TableName } from './schema.js';

export type SkipMode = 'hash' | 'any';

const PAGE = 50_000;
const HASH_PREFIX = 16;

export interface ExistingIndex {
  /** False when the table does not exist yet (nothing is skipped). */
  tableExists: boolean;
  size: number;
  /** True when a record with this id (and, in `hash` mode, this content hash) is in the table. */
  has(id: string, contentHash: string): boolean;
}

export async function readExisting(db: Db, table: TableName, mode: SkipMode, idField = 'nct_id'): Promise<ExistingIndex> {
  const columns = await readTableColumns(db, table);
  if (!columns) return { tableExists: false, size: 0, has: () => false };
  const names = new Set(columns.map((c) => c.name));
  if (!names.has(idField)) throw new Error(`${table.sql} has no column ${idField}`);
  if (mode === 'hash' && !names.has('content_hash')) {
    throw new Error(`${table.sql} has no content_hash column; use --skip-existing=any to skip by id alone`);
  }
  const id = quoteIdent(idField);
  const hash = mode === 'hash' ? `left(${quoteIdent('content_hash')}, ${HASH_PREFIX})` : 'NULL';
  const map = new Map<string, string | null>();
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string; h: string | null }[] } = await db.query<{ id: string; h: string | null }>(
      `SELECT ${id}::text AS id, ${hash} AS h FROM ${table.sql} WHERE ($1::text IS NULL OR ${id}::text > $1::text) ORDER BY ${id}::text LIMIT ${PAGE}`,
      [after],
    );
    for (const r of rows) map.set(r.id, r.h);
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1].id;
  }
  return {
    tableExists: true,
    size: map.size,
    has: (key, contentHash) => {
      if (!map.has(key)) return false;
      return mode === 'any' || map.get(key) === contentHash.slice(0, HASH_PREFIX);
    },
  };
}

/**
 * The `keep` filter for prepareStream: reads the existing ids on its first call (then closes the
 * connection) and drops the records found. `log` gets one note about what was read.
 */
export function skipExistingFilter(
  open: () => Promise<Db>,
  table: TableName,
  mode: SkipMode,
  log: (message: string) => void,
): (rec: { nct_id: string; content_hash: string }) => Promise<boolean> {
  let index: Promise<ExistingIndex> | undefined;
  const load = async (): Promise<ExistingIndex> => {
    const db = await open();
    try {
      const found = await readExisting(db, table, mode);
      log(
        found.tableExists
          ? `--skip-existing: ${found.size} studies in ${table.sql} (${db.label})`
          : `--skip-existing: ${table.sql} does not exist yet in ${db.label}; nothing is skipped`,
      );
      return found;
    } finally {
      await db.close();
    }
  };
  return async (rec) => !(await (index ??= load())).has(rec.nct_id, rec.content_hash);
}
