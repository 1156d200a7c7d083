/**
 * ct-search's logic: find the table's embedding model, embed the query with the same provider and model,
 * and run the nearest-neighbour (or hybrid) query. Works on any table ct-load made (`--table`, `--id-field`).
 */
import pgvector from 'pgvector';
import { UsageError, RuntimeError } from '../io/errors.js';
import type { Db } from '../load/connection.js';
import { DIGEST_COLUMN, quoteIdent, readTableColumns, type TableName } from '../load/schema.js';
import { hashProvider, HASH_MODEL } from '../embed/providers/hash.js';
import type { Provider } from '../embed/providers/types.js';
import { searchSql, TSV_COLUMN, type SearchFilters } from './sql.js';

export interface ModelLabel {
  provider: string;
  /** A non-default server (`host:port`), as in `openai@localhost:8080/model@384`. */
  server?: string;
  model: string;
  dims: number;
}

/** `openai/text-embedding-3-small@1536` → parts; undefined when the text has another shape. */
export function parseModelLabel(label: string): ModelLabel | undefined {
  const m = /^([^/@]+)(?:@([^/]+))?\/(.+)@(\d+)$/.exec(label);
  return m ? { provider: m[1], ...(m[2] ? { server: m[2] } : {}), model: m[3], dims: Number(m[4]) } : undefined;
}

export interface ProviderEnv {
  apiKey?: string;
  baseURL?: string;
  encoding?: 'float' | 'base64';
  timeoutMs?: number;
}

/**
 * A provider that makes vectors comparable with the table's, or a clear refusal. The OpenAI SDK is loaded only
 * when the table needs it (it costs a few hundred ms of start-up).
 */
export async function providerForModel(label: string, env: ProviderEnv): Promise<Provider> {
  const m = parseModelLabel(label);
  if (!m) throw new RuntimeError(`the table's embedding_model "${label}" is not of the form provider/model@dimensions`);
  if (m.provider === 'hash') {
    if (m.model !== HASH_MODEL) throw new RuntimeError(`the table was embedded with hash model ${m.model}; this version has ${HASH_MODEL} only`);
    return hashProvider(m.dims);
  }
  if (m.provider === 'openai') {
    if (!env.apiKey && !env.baseURL) {
      throw new UsageError(
        `the table was embedded with ${label}: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) to embed queries with the same model`,
      );
    }
    const { OPENAI_MODELS, openaiProvider, serverOf } = await import('../embed/providers/openai.js');
    if (m.server !== undefined) {
      // Vectors from another server are comparable only with that server's: the base URL must point at it.
      const given = serverOf(env.baseURL)?.server;
      if (given !== m.server) {
        throw new UsageError(
          `the table was embedded with ${label}, by the server at ${m.server}: ` +
            (env.baseURL ? `--base-url / OPENAI_BASE_URL points at ${given ?? 'OpenAI'}` : 'set OPENAI_BASE_URL (or --base-url) to its URL'),
        );
      }
    }
    const known = OPENAI_MODELS[m.model];
    return openaiProvider({
      model: m.model,
      dims: m.dims,
      sendDimensions: known ? known.shortens && known.native !== m.dims : false,
      encoding: env.encoding ?? 'base64',
      apiKey: env.apiKey ?? 'not-needed',
      baseURL: env.baseURL,
      timeoutMs: env.timeoutMs ?? 60_000,
    });
  }
  throw new RuntimeError(`the table was embedded with ${label}: ct-search cannot make "${m.provider}" vectors`);
}

export interface SearchTarget {
  db: Db;
  table: TableName;
  idColumn: string;
  embeddingColumn: string;
  /** Columns returned with each hit (all but raw, the vector, ct-load's row digest and tsvector columns). */
  columns: string[];
  /** The stored tsvector column `--index hnsw` adds (TSV_COLUMN), when the table has it. */
  tsvColumn?: string;
  model: string;
  /** The start_date column's type: `text` in tables made before dates were typed. */
  startDateType: 'date' | 'text';
}

/** Inspect the table once: its columns and the one embedding model it holds. */
export async function openSearchTarget(db: Db, table: TableName, idColumn: string, embeddingColumn = 'embedding'): Promise<SearchTarget> {
  const cols = await readTableColumns(db, table);
  if (!cols) throw new RuntimeError(`table ${table.sql} does not exist (load it with ct-load --create-table)`);
  const names = cols.map((c) => c.name);
  for (const c of [idColumn, embeddingColumn]) {
    if (!names.includes(c)) throw new RuntimeError(`table ${table.sql} has no column "${c}"`);
  }
  const model = await tableModel(db, table, embeddingColumn, names.includes('embedding_model'));
  const columns = cols.filter((c) => c.name !== 'raw' && c.name !== embeddingColumn && c.name !== DIGEST_COLUMN && c.sqlType !== 'tsvector').map((c) => c.name);
  const startDateType = cols.find((c) => c.name === 'start_date')?.type === 'date' ? 'date' : 'text';
  const tsvColumn = cols.some((c) => c.name === TSV_COLUMN && c.sqlType === 'tsvector') ? TSV_COLUMN : undefined;
  return { db, table, idColumn, embeddingColumn, columns, model, startDateType, tsvColumn };
}

/** The probes of tableModel: whether any row has a vector, the smallest and the largest model (NULL first). */
export function modelProbeSql(table: TableName, embeddingColumn: string, hasModelColumn: boolean): string {
  const where = `FROM ${table.sql} WHERE ${quoteIdent(embeddingColumn)} IS NOT NULL`;
  const m = hasModelColumn ? quoteIdent('embedding_model') : 'NULL::text';
  return `SELECT EXISTS (SELECT 1 ${where}) AS any,
            (SELECT ${m} ${where} ORDER BY 1 ASC NULLS LAST LIMIT 1) AS lo,
            (SELECT ${m} ${where} ORDER BY 1 DESC NULLS FIRST LIMIT 1) AS hi`;
}

/**
 * The one embedding model of the rows with a vector, or a refusal when there is none, or more than one. Two
 * LIMIT 1 probes, the smallest model and the largest (NULL first): with the partial index ct-load builds
 * (`--index hnsw`, see ensureSearchIndexes) each is an index probe, not a scan of every row. They differ
 * exactly when the rows hold more than one model, or a model and rows without one.
 */
async function tableModel(db: Db, table: TableName, embeddingColumn: string, hasModelColumn: boolean): Promise<string> {
  const { rows } = await db.query<{ lo: string | null; hi: string | null; any: boolean }>(modelProbeSql(table, embeddingColumn, hasModelColumn));
  const { any, lo, hi } = rows[0]!;
  if (!any) throw new RuntimeError(`table ${table.sql} holds no embeddings (load embedded records, not --no-embeddings)`);
  if (lo !== hi) throw new RuntimeError(`table ${table.sql} mixes embedding models (${lo}, ${hi ?? 'rows without embedding_model'}); cannot compare vectors`);
  if (!lo) throw new RuntimeError(`table ${table.sql} does not record its embedding_model`);
  return lo;
}

export interface Hit {
  rank: number;
  score: number;
  row: Record<string, unknown>;
}

export interface SearchOptions {
  limit: number;
  hybrid: boolean;
  filters: SearchFilters;
}

/** One query: embed it, ask the database, return ranked hits. */
export async function search(target: SearchTarget, provider: Provider, query: string, opts: SearchOptions): Promise<Hit[]> {
  const [vec] = await provider.embed([query]);
  const q = searchSql(
    {
      table: target.table.sql,
      idColumn: target.idColumn,
      embeddingColumn: target.embeddingColumn,
      select: target.columns,
      limit: opts.limit,
      hybrid: opts.hybrid,
      pool: Math.max(100, opts.limit * 4),
      tsvColumn: target.tsvColumn,
    },
    { ...opts.filters, startDateType: target.startDateType },
    pgvector.toSql(Array.from(vec)) as string, // (toSql rejects a Float32Array itself)
    query,
  );
  const { rows } = await target.db.query<Record<string, unknown>>(q.sql, q.params);
  return rows.map((r, i) => {
    const { score, ...row } = r;
    return { rank: i + 1, score: Number(score), row };
  });
}

/** Let filtered HNSW scans keep looking until they have enough rows (pgvector ≥ 0.8), and widen the beam. */
export async function tuneSession(db: Db, limit: number): Promise<void> {
  await db.query(`SET hnsw.ef_search = ${Math.min(1000, Math.max(40, limit * 2))}`).catch(() => undefined);
  await db.query(`SET hnsw.iterative_scan = strict_order`).catch(() => undefined);
}
