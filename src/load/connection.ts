/**
 * Where the data goes: a Postgres server (`--database-url`, else DATABASE_URL, else libpq's PG* variables
 * when PGHOST or PGDATABASE is set) or, with none of those, PGlite persisted in `--pglite-dir`. Both sit
 * behind one small interface so that all SQL and the binary COPY encoder are shared.
 *
 * TLS: `sslmode` in the URL is honoured by pg's connection-string parser. With pg 8, `sslmode=require`
 * means TLS *with* certificate verification (like `verify-full`; pg prints a deprecation note);
 * `?uselibpqcompat=true&sslmode=require` gives libpq's meaning (encrypt, do not verify).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { RuntimeError, UsageError } from '../io/errors.js';
import { redactUrl } from '../io/redact.js';
import { acquireLock } from '../util/lock.js';
import { FirstContact, hostOf, unreachableReason } from '../util/net.js';
import { sleep } from '../util/retry.js';
import { copyBlobs, writeCopyStream } from './copy-binary.js';
import { copyTemplate, ensureTemplate, openPglite } from './pglite-template.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Db {
  readonly kind: 'postgres' | 'pglite';
  /** Where we are connected, without the password. */
  readonly label: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** `COPY <target> FROM … (FORMAT binary)` of encoded rows (see copy-binary.ts). `target` is `tbl (cols)`, quoted. */
  copyBinary(target: string, rows: readonly Buffer[]): Promise<void>;
  /** Run `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface ConnectionOptions {
  databaseUrl?: string;
  pgliteDir: string;
  /** Shown in pg_stat_activity (the URL's own application_name wins). */
  applicationName: string;
  env?: NodeJS.ProcessEnv;
}

export type Target = { kind: 'postgres'; url?: string; label: string } | { kind: 'pglite'; dir: string; label: string };

/** Decide where to connect, without connecting. */
export function chooseTarget(opts: ConnectionOptions): Target {
  const env = opts.env ?? process.env;
  const url = opts.databaseUrl || env.DATABASE_URL;
  if (url) {
    checkDatabaseUrl(url, opts.databaseUrl ? '--database-url' : 'DATABASE_URL');
    return { kind: 'postgres', url, label: redactUrl(url) };
  }
  if (env.PGHOST || env.PGDATABASE) {
    return { kind: 'postgres', label: `postgres (PG* environment: ${env.PGHOST ?? 'local socket'}/${env.PGDATABASE ?? env.PGUSER ?? ''})` };
  }
  return { kind: 'pglite', dir: opts.pgliteDir, label: `PGlite at ${opts.pgliteDir}` };
}

/**
 * A database URL must be `postgres://` / `postgresql://` (or pg's `socket:/dir?db=…`, or a socket directory
 * `/dir dbname`). Anything else is a usage error naming where it came from, before any DNS lookup (pg would
 * otherwise read `notaurl` as database `notaurl` on host `base`).
 */
export function checkDatabaseUrl(url: string, source: string): void {
  if (url.startsWith('/')) return;
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  const ok = u && (u.protocol === 'socket:' || ((u.protocol === 'postgres:' || u.protocol === 'postgresql:') && (u.host !== '' || u.pathname !== '')));
  // What the user typed, minus anything before an `@` that the URL parser could not place (a password maybe).
  const shown = redactUrl(url).replace(/^[^@]*@/, (m) => (m.includes(':***@') ? m : '***@'));
  if (!ok) throw new UsageError(`${source}: not a postgres:// URL: ${shown}`);
}

/** The yargs options for the connection, shared by ct-load and ct-prepare --skip-existing. */
export const CONNECTION_OPTIONS = {
  'database-url': {
    type: 'string',
    describe: 'Postgres URL (default: DATABASE_URL, PG* variables, else PGlite)',
    requiresArg: true,
  },
  'pglite-dir': { type: 'string', default: 'data/pglite', describe: 'PGlite directory when no Postgres is set', requiresArg: true },
  table: { type: 'string', default: 'clinical_trials', describe: 'table, optionally schema.table', requiresArg: true },
} as const;

export interface ConnectOptions {
  /** A reader (ct-search, --newest, --skip-existing): never create a PGlite database, say there is none. */
  mustExist?: boolean;
  /** Notes for stderr (a stale PGlite lock taken over). */
  log?: (message: string) => void;
  /** A bulk writer (ct-load): compress large values with lz4 where the server can (see `preferLz4`). */
  bulkWrites?: boolean;
}

export async function connect(target: Target, applicationName: string, opts: ConnectOptions = {}): Promise<Db> {
  if (target.kind === 'pglite') return connectPglite(target.dir, target.label, applicationName, opts);
  const db = await connectPostgres(target, applicationName);
  if (opts.bulkWrites) await preferLz4(db);
  return db;
}

/**
 * `default_toast_compression = lz4` for this session, when the server has lz4 (PostgreSQL 14+ built with it,
 * as Debian's and most packages are) and nobody chose a method (the setting's source is its default: not
 * postgresql.conf, ALTER ROLE/DATABASE or PGOPTIONS). The rows' large values (`raw` jsonb of ~15 KB, the
 * descriptions) are compressed as they are written, first into ct-load's staging table, whose compressed
 * values are copied unchanged into the table. pglz took about a third of a load without vectors:
 * 10,000 prepared studies loaded in 7.1–9.3 s with pglz, 5.0–6.2 s with lz4, into a table of the same size
 * (130 vs 134 MB); lz4 values also read back faster. Rows already in the table are not rewritten, and a
 * `COMPRESSION` set on a table's column does not apply to the values ct-load writes (PostgreSQL copies a
 * compressed value as it is): set default_toast_compression yourself to choose the method.
 */
export async function preferLz4(db: Db): Promise<void> {
  await db.query(
    `SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings
      WHERE name = 'default_toast_compression' AND source = 'default' AND 'lz4' = ANY (enumvals)`,
  );
}

/** The lock file of a PGlite directory (see util/lock.ts); Postgres ignores unknown files in its data directory. */
export const pgliteLockFile = (dir: string): string => join(dir, '.ct-lock');

/** A PGlite directory holds a database once initialised (PG_VERSION is written by initdb). */
export const pgliteExists = (dir: string): boolean => existsSync(join(dir, 'PG_VERSION'));

async function connectPostgres(target: { url?: string; label: string }, applicationName: string, contact = new FirstContact()): Promise<Db> {
  const started = Date.now();
  let client: pg.Client;
  for (let tries = 1; ; tries++) {
    client = new pg.Client({
      connectionString: target.url,
      application_name: process.env.PGAPPNAME ? undefined : applicationName,
      connectionTimeoutMillis: 30_000,
    });
    // A dropped connection emits 'error' on the client; the failing query reports it, so do not crash here.
    client.on('error', () => undefined);
    contact.attempt();
    try {
      await client.connect();
      break;
    } catch (err) {
      const e = err as Error & { code?: string };
      const unreachable = unreachableReason(err, pgHostPort(target.url));
      const quick = unreachable ? contact.onUnreachable() : undefined;
      if (quick && !quick.stop) {
        await sleep(quick.waitMs);
        continue;
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const why = unreachable ? `${unreachable} (${tries} ${tries > 1 ? 'attempts' : 'attempt'} in ${secs} s)` : e.message;
      throw Object.assign(new Error(`cannot connect to ${target.label}: ${redactUrl(why)}`), { code: e.code, unreachable: unreachable !== undefined });
    }
  }
  const db: Db = {
    kind: 'postgres',
    label: target.label,
    async query<T>(sql: string, params?: unknown[]) {
      const r = await client.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
    async copyBinary(targetSql, rows) {
      await writeCopyStream(client.query(copyFrom(`COPY ${targetSql} FROM STDIN (FORMAT binary)`)), rows);
    },
    transaction: (fn) => inTransaction(db, fn),
    async close() {
      await client.end().catch(() => undefined);
    },
  };
  return db;
}

/** Host and port a database URL names, for messages (PG* variables when there is no URL). */
function pgHostPort(url: string | undefined): { host?: string; port?: string } {
  if (!url) return { host: process.env.PGHOST ?? 'localhost', port: process.env.PGPORT ?? '5432' };
  const { host, port } = hostOf(url);
  return host === undefined ? {} : { host: decodeURIComponent(host) || 'localhost', port: port ?? '5432' };
}

async function connectPglite(dir: string, label: string, tool: string, opts: ConnectOptions): Promise<Db> {
  const missing = () => new RuntimeError(`no database at ${dir} (load one with ct-load --create-table, or set DATABASE_URL)`);
  if (opts.mustExist && !existsSync(dir)) throw missing();
  mkdirSync(dir, { recursive: true });
  // PGlite is one process per directory: a second one (even a reader) corrupts it.
  const lock = acquireLock(pgliteLockFile(dir), {
    tool,
    what: dir,
    hint: 'PGlite allows one process at a time: run this when it has finished, or use a Postgres server (DATABASE_URL)',
    log: opts.log,
  });
  // Checked under the lock: a writer may be creating the database right now (then the lock says so).
  if (opts.mustExist && !pgliteExists(dir)) {
    lock.release();
    throw missing();
  }
  let pglite: import('@electric-sql/pglite').PGlite;
  try {
    // A new database is a copy of the template (see pglite-template.ts), made under the lock; without
    // one, PGlite runs initdb here.
    if (!pgliteExists(dir)) {
      const template = await ensureTemplate(opts.log);
      if (template) copyTemplate(template, dir);
    }
    pglite = await openPglite(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  const db: Db = {
    kind: 'pglite',
    label,
    async query<T>(sql: string, params?: unknown[]) {
      const r = await pglite.query<T>(sql, params);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async copyBinary(targetSql, rows) {
      // Bounded blobs keep memory flat (measured: 35 MB chunks pushed RSS to 800 MB).
      for (const blob of copyBlobs(rows)) {
        await pglite.query(`COPY ${targetSql} FROM '/dev/blob' (FORMAT binary)`, [], { blob: bytesBlob(blob) });
      }
    },
    transaction: (fn) => inTransaction(db, fn),
    async close() {
      await pglite.close().catch(() => undefined);
      lock.release();
    },
  };
  return db;
}

/**
 * A Blob that hands PGlite `bytes` without copying them. PGlite reads the `/dev/blob` of a COPY from the
 * blob's `arrayBuffer()`, taken once per query; a plain `new Blob([bytes])` would copy the bytes into the
 * Blob and `arrayBuffer()` would copy them again: two more buffers per COPY, garbage that the GC collects
 * late (measured over 10,000 studies: ≈ 50 MB more peak RSS). Only `size` and `arrayBuffer()` are offered;
 * any other way of reading it throws, so a PGlite that reads blobs otherwise fails loudly instead of
 * loading nothing.
 */
export function bytesBlob(bytes: Uint8Array): Blob {
  // PGlite reads the whole ArrayBuffer: it must hold exactly these bytes.
  const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  // (A Buffer's slice() is a view: new Uint8Array(…) is the copy.)
  const ab = (exact ? bytes.buffer : new Uint8Array(bytes).buffer) as ArrayBuffer;
  return new BytesBlob(ab);
}

class BytesBlob extends Blob {
  constructor(private readonly ab: ArrayBuffer) {
    super([]);
    Object.defineProperty(this, 'size', { value: ab.byteLength });
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.ab);
  }
  override text(): Promise<string> {
    throw new Error('BytesBlob: read it with arrayBuffer()');
  }
  override stream(): never {
    throw new Error('BytesBlob: read it with arrayBuffer()');
  }
  override slice(): Blob {
    throw new Error('BytesBlob: read it with arrayBuffer()');
  }
}

async function inTransaction<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const out = await fn();
    await db.query('COMMIT');
    return out;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined); // the connection may be gone; the server rolls back then
    throw err;
  }
}
