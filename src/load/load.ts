/**
 * ct-load's logic: records → batches of binary COPY rows → one transaction per batch (see merge.ts).
 *
 * Flow: peek the first records (column choice, `--create-table` types), connect, check or create the table,
 * then stream: each record is checked (vector length, embedding model) and encoded as it arrives, so a batch
 * is held as encoded rows only; while the server writes batch N (and, with --jobs 2, batch N−1 on a second
 * connection: two backends use two cores), batch N+1 is being encoded. A transient
 * failure (connection lost, admin shutdown, serialization failure, deadlock) reconnects and retries the
 * whole batch: its transaction never committed, so nothing of it is visible.
 */
import { DataError, RuntimeError } from '../io/errors.js';
import { float32Value } from '../io/f32json.js';
import { notARecord, type InputItem } from '../io/input.js';
import type { WorkerParse } from '../io/ndjson-parallel.js';
import { objectsAsText, RawJson, unbytes, Utf8Text } from '../io/rawjson.js';
import { backoffDelay, sleep } from '../util/retry.js';
import { connect as openDb, type ConnectOptions, type Db, type Target } from './connection.js';
import { DimensionError, RowArena, RowEncoder, SLAB_BYTES, SlabPool, ValueError, type EncoderColumn } from './copy-binary.js';
import { buildHnswIndex, dropIndex, ensureSearchIndexes, inspectHnswIndex, PGLITE_COMFORT_ROWS, REBUILD_FRACTION, type IndexResult, type IndexState } from './index.js';
import { stageSql, writeBatch, type BatchResult, type BatchRows, type MergePlan } from './merge.js';
import {
  PARTIAL_DATES,
  columnsFromRecords,
  commentSql,
  createTableSql,
  datePrecision,
  DIGEST_COLUMN,
  DIGEST_TYPE,
  OWN_COLUMNS,
  precisionColumn,
  ensureVectorExtension,
  isNumVector,
  PREPARED_TYPES,
  quoteIdent,
  readTableColumns,
  type TableColumn,
  type TableName,
} from './schema.js';

export interface LoadOptions {
  target: Target;
  table: TableName;
  idField: string;
  createTable: boolean;
  dropTable: boolean;
  noEmbeddings: boolean;
  dimensions?: number;
  batchSize: number;
  /** Batches written at once, each on its own connection (`--jobs`; PGlite: 1). Default 1. */
  jobs?: number;
  maxRetries: number;
  index?: 'hnsw';
  maintenanceWorkMem?: string;
  /** Bytes of encoded rows per batch; default batchBytesFor(the connection's kind). */
  batchBytes?: number;
  /** Newer wins by this column; undefined: `last_update_posted` when the table and the records have it. */
  versionField?: string;
  /** Write older records too (no newer-wins check). */
  allowOlder?: boolean;
  applicationName: string;
  /** Called for a bad record; throws to stop the run (no --rejects) or records it. */
  reject: (item: InputItem, reason: string) => void;
  /** A note for stderr. */
  log: (message: string) => void;
  /** After each committed batch. */
  onBatch?: (stats: LoadStats) => void;
  /**
   * Called once the table's columns are known, with the fields each record is read for and its vector fields:
   * the caller may have the rest of the input parsed in worker threads, shaped so (Input.parseInWorkers);
   * `worthIt`: the vectors are spelled long (longVectorText), where a worker pays off.
   */
  parseInWorkers?: (shape: Omit<WorkerParse, 'workers'>, worthIt: boolean) => void;
  /** Backoff base (ms) between retries; tests make it small. */
  retryBaseMs?: number;
  connect?: (target: Target, applicationName: string, opts?: ConnectOptions) => Promise<Db>;
}

export interface LoadStats {
  read: number;
  rejected: number;
  /** Records whose id appeared again within the same batch (the later one is loaded). */
  duplicates: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Records older than their row in the table (newer wins): not written. */
  older: number;
  retried: number;
  batches: number;
  /** Records with NUL characters removed from a string (Postgres text and jsonb cannot hold them). */
  nulCleaned: number;
  index?: IndexResult;
}

export const newLoadStats = (): LoadStats => ({
  read: 0, rejected: 0, duplicates: 0, inserted: 0, updated: 0, unchanged: 0, older: 0, retried: 0, batches: 0, nulCleaned: 0,
});

const YIELD_EVERY = 32;

/**
 * First records looked at to choose columns and infer types: this many, or fewer once they come to
 * PEEK_BYTES. The peeked records are all alive at once, and that many parsed records also leave the
 * garbage collector with a large heap for the rest of the run (measured over 10,000 studies of ≈ 33 KB
 * each, on PGlite: 500 of them, ≈ 16 MB, gave a rerun 460 MB peak RSS; 100 of them, 290 MB).
 */
const PEEK = 500;
export const PEEK_BYTES = 4 << 20;

/** About how many bytes a record takes as input: its line's length (NDJSON), else its fields'. */
export function approxBytes(item: InputItem): number {
  if (item.json !== undefined) return item.json.length;
  const v = item.value;
  if (!isRecord(v)) return 0;
  let n = 0;
  for (const k in v) {
    const x = v[k];
    if (typeof x === 'string') n += x.length;
    else if (x instanceof RawJson) n += x.size;
    else if (x instanceof Utf8Text) n += x.utf8.byteLength;
    else if (ArrayBuffer.isView(x)) n += x.byteLength;
    else if (Array.isArray(x)) n += 8 * x.length;
    else n += 8;
  }
  return n;
}

/** SQLSTATE classes and codes worth a reconnect and a retry of the batch. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08')) return true; // connection exceptions
  if (['57P01', '57P02', '57P03', '40001', '40P01', '53300'].includes(code)) return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  return /Connection terminated|connection ended|Client has encountered a connection error/i.test(e?.message ?? '');
}

/** A connection that writes batches (see --jobs). */
interface Slot {
  db?: Db;
  /** The session's staging table exists. */
  staged: boolean;
  busy: boolean;
}

interface Batch extends BatchRows {
  number: number;
  arena: RowArena;
  from: string;
  to: string;
  byId: Map<string, number>;
}

export async function loadRecords(items: AsyncIterable<InputItem>, opts: LoadOptions, stats: LoadStats): Promise<void> {
  const open = opts.connect ?? openDb;
  const it = items[Symbol.asyncIterator]();
  const peeked: InputItem[] = [];
  const peekRecords: Record<string, unknown>[] = [];
  let peekedBytes = 0;
  while (peekRecords.length < Math.min(PEEK, opts.batchSize) && peekedBytes < PEEK_BYTES) {
    const r = await it.next();
    if (r.done) break;
    peeked.push(r.value);
    if (r.value.error === undefined && isRecord(r.value.value)) {
      peekRecords.push(r.value.value);
      peekedBytes += approxBytes(r.value);
    }
  }
  if (peekRecords.length === 0) {
    // No record at all (empty input, or only unparseable lines): nothing to learn the columns from, nothing to load.
    for (const item of peeked) {
      stats.read++;
      stats.rejected++;
      opts.reject(item, item.error ?? notARecord(item.value));
    }
    return;
  }

  // A server never reached fails fast (connect made its few quick retries); later reconnects are patient.
  let db: Db | undefined = await withRetries(opts, stats, 'connecting', () => open(opts.target, opts.applicationName, { log: opts.log, bulkWrites: true }), true);
  const slots: Slot[] = [];
  try {
    const setup = await prepareTable(db, opts, peekRecords);
    const { plan, encoder, vectorColumn, values } = setup;
    // Only records with vectors: parsing 1536 numbers a line is what makes ct-load wait for its input (from NDJSON
    // 100,000 embedded studies: 47.6 → 38.1 s); without them the server is the bound, and a worker only costs
    // memory (--no-embeddings over 100,000 prepared studies: 25.6 → 26.7 s, 173 → 235 MB).
    if (setup.vectors.length) opts.parseInWorkers?.({ keep: setup.fields, float32: setup.vectors }, longVectorText(peekRecords, setup.vectors));
    // The peeked records are taken below from `peeked`; this copy would otherwise stay alive for the whole
    // load (closures of prepareTable share its scope): 500 parsed studies, ≈ 50 MB of heap.
    peekRecords.length = 0;
    let expectedModel = setup.tableModel;
    const modelIndex = plan.columns.indexOf('embedding_model');
    let modelFrom = expectedModel !== undefined ? `the table ${opts.table.sql}` : '';

    // --index hnsw: keep a fitting index through a small change, drop it once the load changes much of the table.
    let index: { state: IndexState; rowsBefore: number; dropped: boolean; reason?: string } | undefined;
    if (opts.index === 'hnsw') {
      if (!vectorColumn) throw new RuntimeError(`--index hnsw: ${opts.table.sql} has no vector column to index`);
      const state = await inspectHnswIndex(db, opts.table, vectorColumn);
      const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${opts.table.sql}`);
      index = { state, rowsBefore: Number(rows[0].n), dropped: false, reason: state.misfit };
      // One that does not fit is replaced anyway; on an empty table nobody searches: load without it.
      if (state.exists && (!state.fits || index.rowsBefore === 0)) {
        await dropIndex(db, state);
        index.dropped = true;
      }
    }
    const changed = () => stats.inserted + stats.updated;
    const dropIfBulk = async (conn: Db) => {
      if (!index || index.dropped || !index.state.exists || changed() <= REBUILD_FRACTION * index.rowsBefore) return;
      await dropIndex(conn, index.state);
      index.dropped = true;
      opts.log(`${changed()} of ${index.rowsBefore} rows changed so far: dropped HNSW index ${index.state.name}, to build it again after the load`);
    };

    // --jobs: up to this many batches are written at once, each in its own transaction on its own connection
    // (PGlite has one). Slot 0 is the connection set up above; the others open here, and a server that
    // refuses them (max_connections) leaves ct-load writing one batch at a time.
    slots.push({ db, staged: false, busy: false });
    const jobs = db.kind === 'pglite' ? 1 : Math.max(1, opts.jobs ?? 1);
    for (let k = 1; k < jobs; k++) {
      try {
        slots.push({ db: await open(opts.target, opts.applicationName, { log: opts.log, bulkWrites: true }), staged: false, busy: false });
      } catch (err) {
        opts.log(`could not open connection ${k + 1} of --jobs ${jobs} (${(err as Error).message}); writing ${k === 1 ? 'one batch' : `${k} batches`} at a time`);
        break;
      }
    }
    db = undefined; // the slots own the connections now
    const session = async (slot: Slot): Promise<Db> => {
      if (!slot.db) {
        slot.db = await open(opts.target, opts.applicationName, { log: opts.log, bulkWrites: true });
        slot.staged = false;
      }
      if (!slot.staged) await slot.db.query(stageSql(plan));
      slot.staged = true;
      return slot.db;
    };
    await session(slots[0]);

    const batchBytes = opts.batchBytes ?? batchBytesFor(slots[0].db!.kind);
    // Enough slabs kept back for the batches in flight and the one being encoded, no more.
    const slabs = new SlabPool(SLAB_BYTES, Math.ceil(((slots.length + 1) * batchBytes) / SLAB_BYTES) + 2);
    const full = (b: Batch) => b.rows.length >= opts.batchSize || b.arena.bytes >= batchBytes;
    const newBatch = (number: number): Batch => ({ number, arena: new RowArena(slabs), rows: [], ids: [], from: '', to: '', byId: new Map() });
    let batch = newBatch(1);
    const inFlight = new Map<Batch, Promise<void>>();
    // The first batch that failed for good: the run stops at the next flush (a failed batch leaves inFlight
    // at once, so its error is kept here, never lost).
    let failure: { error: unknown } | undefined;
    const failed = () => {
      if (failure) throw failure.error;
    };
    /**
     * Start writing `b` once a connection is free and no batch in flight shares an id with it: batches with
     * disjoint ids commit in any order to the same table, while a repeated id must be written in input order
     * (the later record wins).
     */
    const flush = async (b: Batch) => {
      failed();
      if (b.rows.length === 0) return;
      const blocked = () => inFlight.size >= slots.length || [...inFlight.keys()].some((f) => sharesId(f, b));
      while (blocked()) {
        await Promise.race(inFlight.values());
        failed();
      }
      const slot = slots.find((s) => !s.busy)!;
      slot.busy = true;
      const p = runBatch(b, slot)
        .catch((error: unknown) => void (failure ??= { error }))
        .finally(() => {
          slot.busy = false;
          inFlight.delete(b);
        });
      inFlight.set(b, p);
    };
    /** Every batch in flight finishes (or fails) before the run goes on or stops; then the first failure is thrown. */
    const settle = async () => {
      await Promise.all([...inFlight.values()]);
      failed();
    };
    const runBatch = async (b: Batch, slot: Slot) => {
      let direct = true;
      for (let attempt = 0; ; attempt++) {
        try {
          const conn = await session(slot);
          const r: BatchResult = await conn.transaction(() => writeBatch(conn, plan, b, direct));
          stats.inserted += r.inserted;
          stats.updated += r.updated;
          stats.unchanged += r.unchanged;
          stats.older += r.older;
          stats.batches++;
          b.arena.release();
          opts.onBatch?.(stats);
          // After the commit, outside the retried part: a failure here leaves the index, updated in place.
          await dropIfBulk(conn).catch((err: Error) => opts.log(`could not drop the HNSW index (${err.message}); it stays and is updated in place`));
          return;
        } catch (err) {
          if (direct && (err as { code?: string }).code === '23505') {
            direct = false; // another writer inserted some ids meanwhile: merge them all
            continue;
          }
          const where = `batch ${b.number} (${b.from}–${b.to})`;
          if (!isTransient(err) || attempt >= opts.maxRetries) {
            throw new RuntimeError(`${where}: ${(err as Error).message}${isTransient(err) ? ` (after ${attempt} retries)` : ''}`);
          }
          stats.retried++;
          const wait = backoffDelay(attempt, { baseMs: opts.retryBaseMs ?? 500, maxMs: 15_000 });
          opts.log(`${where}: ${(err as Error).message}; reconnecting and retrying in ${wait} ms (${attempt + 1}/${opts.maxRetries})`);
          await slot.db?.close();
          slot.db = undefined;
          await sleep(wait);
        }
      }
    };

    const take = (item: InputItem) => {
      stats.read++;
      if (item.error !== undefined) return rejectItem(item, item.error);
      if (!isRecord(item.value)) return rejectItem(item, notARecord(item.value));
      // NDJSON: the objects (a study's `raw`) go to jsonb as the line's text, not serialized again (a parsing
      // worker made them so already).
      const rec = item.shaped || item.json === undefined ? item.value : objectsAsText(item.value, item.json);
      const id = unbytes(rec[opts.idField]); // a long id from Arrow comes as bytes: the lookup needs its string
      if (id === null || id === undefined || id === '') return rejectItem(item, `missing id field "${opts.idField}"`);
      if (modelIndex >= 0) {
        const model = unbytes(rec.embedding_model);
        if (typeof model === 'string' && model !== expectedModel) {
          if (expectedModel === undefined) {
            expectedModel = model;
            modelFrom = `earlier records (${item.where})`;
          } else {
            throw new DataError(item.where, `embedding_model "${model}" differs from "${expectedModel}" of ${modelFrom}; refusing to mix models in ${opts.table.sql}`);
          }
        }
      }
      let row: Buffer;
      try {
        row = encoder.encode(values(rec), batch.arena);
        if (encoder.nulCleaned) stats.nulCleaned++;
      } catch (err) {
        // A malformed vector (wrong length, non-numbers, not a list) is that record's problem: rejected with its position.
        if (err instanceof DimensionError) return rejectItem(item, `${opts.idField} ${String(id)}: ${err.message} (table ${opts.table.sql})`);
        if (err instanceof ValueError) return rejectItem(item, `${opts.idField} ${String(id)}: ${err.message}`);
        throw err;
      }
      const key = String(id);
      const at = batch.byId.get(key);
      if (at !== undefined) {
        stats.duplicates++;
        batch.rows[at] = row;
      } else {
        batch.byId.set(key, batch.rows.length);
        batch.rows.push(row);
        batch.ids.push(id);
      }
      if (batch.rows.length === 1) batch.from = item.where;
      batch.to = item.where;
    };
    const rejectItem = (item: InputItem, reason: string) => {
      stats.rejected++;
      // A record shaped by a parsing worker lacks the fields ct-load does not read: the rejects file gets the line's.
      opts.reject(item.shaped ? { where: item.where, line: item.line, value: JSON.parse(item.json!) } : item, reason);
    };

    try {
      for (const item of peeked) {
        take(item);
        if (full(batch)) await flush(batch), (batch = newBatch(batch.number + 1));
      }
      peeked.length = 0;
      for (let r = await it.next(); !r.done; r = await it.next()) {
        take(r.value);
        // Records from an in-memory Arrow batch arrive as microtasks, which starve I/O: let the socket
        // drain now and then, so the server keeps receiving the batch in flight while this one is encoded.
        if (stats.read % YIELD_EVERY === 0) await new Promise(setImmediate);
        if (full(batch)) await flush(batch), (batch = newBatch(batch.number + 1));
      }
      await flush(batch);
      await settle();
    } catch (err) {
      await settle().catch(() => undefined); // let the batches in flight finish (or fail) first
      throw err;
    }

    const finalDb = await session(slots[0]);
    if (index && vectorColumn) {
      const { state, rowsBefore } = index;
      const base = { name: state.name, changed: changed(), rowsBefore };
      if (state.exists && !index.dropped) {
        stats.index = { ...base, action: changed() > 0 ? 'updated' : 'kept', seconds: 0 };
      } else {
        const built = await buildHnswIndex(finalDb, opts.table, vectorColumn, state, {
          maintenanceWorkMem: opts.maintenanceWorkMem,
          dims: setup.dims ?? encoder.columns.find((c) => c.name === vectorColumn)?.dims ?? 1536,
        });
        const action = state.exists && state.fits && rowsBefore > 0 ? 'rebuilt' : 'built';
        stats.index = { ...base, ...built, action, reason: index.reason };
      }
      const searchIndexes = await ensureSearchIndexes(finalDb, opts.table, vectorColumn, (await readTableColumns(finalDb, opts.table)) ?? []);
      if (searchIndexes.length) stats.index.searchIndexes = searchIndexes;
    }
    if (finalDb.kind === 'pglite') {
      const { rows } = await finalDb.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${opts.table.sql}`);
      if (Number(rows[0].n) > PGLITE_COMFORT_ROWS) {
        opts.log(`${opts.table.sql} holds ${rows[0].n} rows in PGlite: fine for reading, but its HNSW index builds get very slow past ~${PGLITE_COMFORT_ROWS / 1000}k rows; use a Postgres server (--database-url) for tables this size`);
      }
    }
  } finally {
    const own = db as Db | undefined;
    if (own && !slots.some((s) => s.db === own)) await own.close();
    for (const slot of slots) await slot.db?.close();
  }
}

/**
 * `--create-table` on an existing table: the records' fields it lacks (vectors after a --no-embeddings
 * load, embedding_model, any new field) are added with `ALTER TABLE … ADD COLUMN`, typed as a new table's
 * would be. A field with no value in the first records and no fixed type is left out (its type would be a
 * guess). Returns the new column list, or undefined when nothing was added.
 */
async function addMissingColumns(
  db: Db,
  opts: LoadOptions,
  peek: Record<string, unknown>[],
  columns: TableColumn[],
): Promise<TableColumn[] | undefined> {
  const have = new Set(columns.map((c) => c.name));
  const valued = new Set(peek.flatMap((r) => Object.keys(r).filter((k) => r[k] !== null && r[k] !== undefined)));
  let defs;
  try {
    defs = columnsFromRecords(peek, { idField: opts.idField, dimensions: opts.dimensions, noEmbeddings: opts.noEmbeddings });
  } catch (err) {
    throw new RuntimeError(`--create-table: ${(err as Error).message}`);
  }
  const typed = (d: { name: string; sqlType: string }) => valued.has(d.name) || (d.name in PREPARED_TYPES && d.name !== 'embedding') || d.sqlType.startsWith('vector(');
  const add = defs.filter((d) => !have.has(d.name) && typed(d));
  // The row digest, so that reruns skip unchanged rows (the first load after adding it refreshes every row's digest).
  if (!have.has(DIGEST_COLUMN)) add.push({ name: DIGEST_COLUMN, sqlType: DIGEST_TYPE });
  if (add.length === 0) return undefined;
  if (add.some((d) => d.sqlType.startsWith('vector('))) await ensureVectorExtension(db);
  await db.query(`ALTER TABLE ${opts.table.sql} ${add.map((d) => `ADD COLUMN IF NOT EXISTS ${quoteIdent(d.name)} ${d.sqlType}`).join(', ')}`);
  opts.log(`added to ${opts.table.sql}: ${add.map((d) => `${d.name} ${d.sqlType}`).join(', ')}`);
  return readTableColumns(db, opts.table);
}

/** Newer wins: the version column (explicit, or `last_update_posted` when the table has it and it is loaded). */
function versionColumn(opts: LoadOptions, columns: TableColumn[], loaded: string[]): MergePlan['version'] {
  const name = opts.versionField ?? DEFAULT_VERSION_FIELD;
  const col = columns.find((c) => c.name === name);
  if (opts.versionField === undefined && (!col || !loaded.includes(name))) return undefined;
  if (!col) throw new RuntimeError(`--version-field ${name}: ${opts.table.sql} has no such column`);
  if (!loaded.includes(name)) throw new RuntimeError(`--version-field ${name}: the records have no field "${name}"`);
  if (name === opts.idField) throw new RuntimeError(`--version-field ${name} is the id field`);
  return { column: name, collate: col.type === 'text' };
}

/** The version column of prepared clinical-trial records. */
export const DEFAULT_VERSION_FIELD = 'last_update_posted';

/** Do two batches hold a record with the same id? */
function sharesId(a: Batch, b: Batch): boolean {
  const [small, big] = a.byId.size <= b.byId.size ? [a, b] : [b, a];
  for (const id of small.byId.keys()) if (big.byId.has(id)) return true;
  return false;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);


/**
 * A batch is cut at --batch-size rows or at this many bytes of encoded rows, whichever comes first:
 * --jobs + 1 batches are in memory at once (those being written, the next being encoded), and rows with
 * `raw` can be 20 KB each. Measured over 20,000 embedded studies from Arrow with --jobs 2: 8 MB loaded in
 * the time of 16 MB (6.3 s), at 216 MB peak RSS against 244 MB.
 */
export const BATCH_BYTES = 8 << 20;

/**
 * The same on PGlite (kept apart, as PGlite writes one batch at a time): PGlite runs in this process, so a
 * batch being written costs its bytes again on the way in (the COPY data handed to PGlite), and the server
 * side gains nothing from large batches. Measured over 10,000 studies of ≈ 33 KB a row (NDJSON and Arrow,
 * load and rerun): 8 MB took the time of 16 MB with less memory; 4 MB was slower still (Arrow ≈ 40%).
 */
export const PGLITE_BATCH_BYTES = 8 << 20;

/** The byte budget of a batch for a connection of this kind. */
export const batchBytesFor = (kind: Db['kind']): number => (kind === 'pglite' ? PGLITE_BATCH_BYTES : BATCH_BYTES);

async function withRetries<T>(opts: LoadOptions, stats: LoadStats, what: string, fn: () => Promise<T>, firstContact = false): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const neverReached = firstContact && (err as { unreachable?: boolean }).unreachable === true;
      if (neverReached || !isTransient(err) || attempt >= opts.maxRetries) throw new RuntimeError((err as Error).message);
      stats.retried++;
      const wait = backoffDelay(attempt, { baseMs: opts.retryBaseMs ?? 500, maxMs: 15_000 });
      opts.log(`${what}: ${(err as Error).message}; retrying in ${wait} ms (${attempt + 1}/${opts.maxRetries})`);
      await sleep(wait);
    }
  }
}

interface TableSetup {
  plan: MergePlan;
  encoder: RowEncoder;
  /** A record's values for plan.columns (the date precision columns derived from their dates). */
  values: (rec: Record<string, unknown>) => unknown[];
  vectorColumn?: string;
  dims?: number;
  tableModel?: string;
  /** The record fields read: the loaded columns' (and the dates their precision columns come from). */
  fields: string[];
  /** The loaded vector columns. */
  vectors: string[];
}

/** Check (or drop and create) the table; choose the columns to load; read the model the table holds. */
async function prepareTable(db: Db, opts: LoadOptions, peek: Record<string, unknown>[]): Promise<TableSetup> {
  if (opts.dropTable) await db.query(`DROP TABLE IF EXISTS ${opts.table.sql}`);
  let columns = await readTableColumns(db, opts.table);
  if (!columns) {
    if (!opts.createTable) throw new RuntimeError(`table ${opts.table.sql} does not exist in ${db.label} (use --create-table)`);
    let defs;
    try {
      defs = columnsFromRecords(peek, { idField: opts.idField, dimensions: opts.dimensions, noEmbeddings: opts.noEmbeddings });
    } catch (err) {
      throw new RuntimeError(`--create-table: ${(err as Error).message}`);
    }
    if (defs.some((d) => d.sqlType.startsWith('vector('))) await ensureVectorExtension(db);
    // `--table lit.papers --create-table`: the schema too, when it is missing.
    if (opts.table.schema !== undefined) await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.table.schema)}`);
    await db.query(createTableSql(opts.table, defs, opts.idField));
    for (const sql of commentSql(opts.table, defs)) await db.query(sql);
    opts.log(`created table ${opts.table.sql} (${defs.length + 1} columns)`);
    columns = (await readTableColumns(db, opts.table))!;
  } else if (opts.createTable) {
    columns = (await addMissingColumns(db, opts, peek, columns)) ?? columns;
  }
  const seen = new Set(peek.flatMap((r) => Object.keys(r)));
  // `<date>_precision` columns are filled from their date field, unless the records carry them themselves.
  const derived = new Map<string, string>();
  for (const d of PARTIAL_DATES) {
    const pc = columns.find((c) => c.name === precisionColumn(d));
    if (pc && seen.has(d) && !seen.has(pc.name)) {
      derived.set(pc.name, d);
      seen.add(pc.name);
    }
  }
  const textDates = columns.filter((c) => (PARTIAL_DATES as readonly string[]).includes(c.name) && c.type === 'text' && seen.has(c.name));
  if (textDates.length) {
    opts.log(
      `${opts.table.sql} keeps its dates as text (${textDates.map((c) => c.name).join(', ')}; a table from an older ct-pipeline): ` +
        'they load as before; see "Dates" in the README to make them date columns',
    );
  }
  const skipped = (c: TableColumn) =>
    OWN_COLUMNS.includes(c.name) || c.generated === true || !seen.has(c.name) || (opts.noEmbeddings && (c.type === 'vector' || c.name === 'embedding_model'));
  const loaded = columns.filter((c) => !skipped(c));
  if (!loaded.some((c) => c.name === opts.idField)) {
    throw new RuntimeError(`the records' id field "${opts.idField}" is not a column of ${opts.table.sql} (see --id-field)`);
  }
  const bad = loaded.find((c) => c.type === undefined);
  if (bad) throw new RuntimeError(`column ${bad.name} of ${opts.table.sql} has type ${bad.sqlType}, which ct-load cannot write`);
  const names = new Set(columns.map((c) => c.name));
  const ignored = [...seen].filter((k) => !names.has(k) && !(opts.noEmbeddings && (k === 'embedding' || k === 'embedding_model')));
  if (ignored.length) {
    const why = opts.createTable ? 'no values in the first records to choose a type from' : '--create-table adds them';
    opts.log(`fields not in ${opts.table.sql}, not loaded: ${ignored.join(', ')} (${why})`);
  }

  const vectorColumn = columns.find((c) => c.name === 'embedding' && c.type === 'vector')?.name ?? columns.find((c) => c.type === 'vector')?.name;
  const encCols: EncoderColumn[] = loaded.map((c) => {
    let dims = c.dims;
    if (c.type === 'vector' && dims === undefined) {
      // A `vector` column without a dimension: the first record's length is the rule for the rest.
      const first = peek.find((r) => isNumVector(r[c.name]))?.[c.name] as ArrayLike<number> | undefined;
      dims = first?.length;
    }
    if (c.type === 'vector' && opts.dimensions !== undefined && dims !== undefined && dims !== opts.dimensions) {
      throw new RuntimeError(`--dimensions ${opts.dimensions} but ${opts.table.sql}.${c.name} is ${c.sqlType}`);
    }
    return { name: c.name, type: c.type!, dims };
  });
  let tableModel: string | undefined;
  if (loaded.some((c) => c.name === 'embedding_model')) {
    const { rows } = await db.query<{ m: string }>(
      `SELECT DISTINCT ${quoteIdent('embedding_model')} AS m FROM ${opts.table.sql} WHERE ${quoteIdent('embedding_model')} IS NOT NULL LIMIT 2`,
    );
    if (rows.length > 1) throw new RuntimeError(`${opts.table.sql} already holds several embedding models (${rows.map((r) => r.m).join(', ')}); refusing to add more`);
    tableModel = rows[0]?.m;
  }
  const loadedNames = loaded.map((c) => c.name);
  // A digest column of another type is not ct-load's: it is left alone.
  const digest = columns.some((c) => c.name === DIGEST_COLUMN && c.sqlType === DIGEST_TYPE) ? DIGEST_COLUMN : undefined;
  const plan: MergePlan = {
    table: opts.table,
    columns: digest ? [...loadedNames, digest] : loadedNames,
    digest,
    idField: opts.idField,
    touchLoadedAt: columns.some((c) => c.name === 'loaded_at'),
    version: opts.allowOlder ? undefined : versionColumn(opts, columns, loadedNames),
  };
  const vectors = loaded.filter((c) => c.type === 'vector').map((c) => c.name);
  if (vectors.length && loadedNames.includes('content_hash')) {
    const model = loadedNames.includes('embedding_model') && vectorColumn && vectors.includes(vectorColumn) ? 'embedding_model' : undefined;
    plan.keepVectors = { hash: 'content_hash', vectors, model: model && { column: model, vector: vectorColumn! } };
  }
  const dims = encCols.find((c) => c.name === vectorColumn)?.dims ?? columns.find((c) => c.name === vectorColumn)?.dims;
  const getters = loadedNames.map((c) => {
    const from = derived.get(c);
    return from ? (r: Record<string, unknown>) => datePrecision(r[from]) : (r: Record<string, unknown>) => r[c];
  });
  const values = (rec: Record<string, unknown>) => getters.map((g) => g(rec));
  const fields = [...new Set([...loadedNames, ...derived.values(), opts.idField])].filter((c) => !derived.has(c));
  return { plan, encoder: new RowEncoder(encCols, { digest: digest !== undefined }), values, vectorColumn, dims, tableModel, fields, vectors };
}

/**
 * Are the peeked vectors spelled long: most numbers not the shortest text of their float32 (the 17 digits of
 * the double a float32 widens to, as ct-embed wrote vectors before, or other doubles)? Parsing those on the
 * main thread is what a parsing worker saves; the short spelling parses in about half the time, and then a
 * worker costs more than it saves (10,000 embedded studies: 8.1–11.4 s and 157–163 MB on the main thread,
 * 9.7–12.4 s and 196–202 MB with a worker, three runs each, alternating).
 */
export function longVectorText(recs: Record<string, unknown>[], fields: string[]): boolean {
  let long = 0;
  let n = 0;
  for (const r of recs.slice(0, 8)) {
    for (const f of fields) {
      const v = r[f];
      if (!Array.isArray(v)) continue;
      for (let i = 0; i < v.length && i < 64; i++) {
        const x: unknown = v[i];
        if (typeof x !== 'number' || x === 0) continue;
        n++;
        if (float32Value(x) !== x) long++;
      }
    }
  }
  return long * 2 > n;
}
