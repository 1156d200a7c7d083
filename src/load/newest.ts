/** `ct-load --newest COLUMN`: the largest value of a column, for incremental refreshes (`make update`). */
import { RuntimeError } from '../io/errors.js';
import type { Db } from './connection.js';
import { quoteIdent, readTableColumns, type TableName } from './schema.js';

/** The column's largest value as text; undefined when the table is missing or empty. */
export async function newestValue(db: Db, table: TableName, column: string): Promise<string | undefined> {
  const cols = await readTableColumns(db, table);
  if (!cols) return undefined;
  const col = cols.find((c) => c.name === column);
  if (!col) throw new RuntimeError(`table ${table.sql} has no column "${column}"`);
  // A date prints as YYYY-MM-DD whatever the server's DateStyle (what ct-fetch --updated-since takes).
  const max = `max(${quoteIdent(column)})`;
  const text = col.type === 'date' ? `to_char(${max}, 'YYYY-MM-DD')` : `${max}::text`;
  const { rows } = await db.query<{ v: string | null }>(`SELECT ${text} AS v FROM ${table.sql}`);
  return rows[0]?.v ?? undefined;
}
