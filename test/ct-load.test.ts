/**
 * ct-load end to end: the compiled binary against the local PostgreSQL + pgvector and against PGlite
 * (the same cases where they apply), plus `ct-prepare --skip-existing`. Inputs are the sample studies,
 * prepared in-process and given small deterministic vectors (no dependency on ct-embed).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ArrowEncoder } from '../src/io/arrow.js';
import { float32Values } from '../src/io/f32json.js';
import { prepareStudy, type PreparedRecord } from '../src/prepare.js';
import { parseTableName } from '../src/load/schema.js';
import { modelProbeSql, openSearchTarget } from '../src/search/search.js';
import type { Db } from '../src/load/connection.js';
import { searchSql } from '../src/search/sql.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tmp = mkdtempSync(join(tmpdir(), 'ct-load-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Rec = PreparedRecord & { embedding?: number[]; embedding_model?: string };

const studies = readFileSync(join(root, 'test/fixtures/studies-sample.ndjson'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A deterministic float32 vector from a string (FNV-1a steps), so equal texts get equal vectors. */
function vectorOf(seed: string, dims: number): number[] {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  const v: number[] = [];
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (i + 1), 16777619);
    v.push(Math.fround((h >>> 0) / 2 ** 32 - 0.5));
  }
  return v;
}

function records(opts: { dims?: number; model?: string; raw?: boolean; copies?: number } = {}): Rec[] {
  const { dims = 8, model = 'test-model', raw = true, copies = 1 } = opts;
  const out: Rec[] = [];
  for (let c = 0; c < copies; c++) {
    for (const s of studies) {
      const r: Rec = prepareStudy(s, { raw });
      if (c > 0) r.nct_id = `${r.nct_id}-${c}`;
      if (dims > 0) {
        r.embedding = vectorOf(r.nct_id + r.content_hash, dims);
        r.embedding_model = model;
      }
      out.push(r);
    }
  }
  return out;
}

const ndjson = (recs: object[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawn a compiled tool with a pinned environment; `db` picks Postgres (URL) or PGlite (directory). */
function run(tool: string, args: string[], input: string | Buffer, db: { url?: string; dir?: string; env?: NodeJS.ProcessEnv }, onSpawn?: () => void): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: process.env.HOME, ...db.env };
  if (db.url) env.DATABASE_URL = db.url;
  const extra = db.dir ? ['--pglite-dir', db.dir] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin', tool), ...args, ...extra], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    onSpawn?.();
  });
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const summaryOf = (r: Run) => r.stderr.trim().split('\n').at(-1) ?? '';

/** What a backend must provide to the shared cases. */
interface Backend {
  name: string;
  db: { url?: string; dir?: string };
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Drop this table when the backend is closed. */
  track(table: string): void;
  close(): Promise<void>;
}

async function postgres(): Promise<Backend> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  const tables: string[] = [];
  return {
    name: 'postgres',
    db: { url: DATABASE_URL },
    query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
    track: (t) => tables.push(t),
    async close() {
      for (const t of tables) await client.query(`DROP TABLE IF EXISTS ${q(t)}`);
      await client.end();
    },
  };
}

/** PGlite allows one process per directory: open it only between runs of the tool. */
function pglite(dir: string): Backend {
  return {
    name: 'pglite',
    db: { dir },
    async query<T>(sql: string, params?: unknown[]) {
      const { PGlite } = await import('@electric-sql/pglite');
      const { vector } = await import('@electric-sql/pglite-pgvector');
      const db = await PGlite.create({ dataDir: dir, extensions: { vector } });
      try {
        return (await db.query<T>(sql, params)).rows;
      } finally {
        await db.close();
      }
    },
    track: () => undefined, // the directory is removed with the temporary directory
    close: async () => undefined,
  };
}

const q = (name: string) => '"' + name.replace(/"/g, '""') + '"';

function sharedCases(getBackend: () => Backend, tableBase: string) {
  let n = 0;
  const table = () => `${tableBase}_${++n}`;
  const dropAfter = { push: (t: string) => getBackend().track(t) };
  const load = (args: string[], recs: object[]) => run('ct-load', args, ndjson(recs), getBackend().db);
  const xmins = async (t: string) =>
    new Map((await getBackend().query<{ id: string; x: string }>(`SELECT nct_id AS id, xmin::text AS x FROM ${q(t)}`)).map((r) => [r.id, r.x]));

  test('load, reload unchanged (no row rewritten), reload with changes (only those updated)', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    const first = await load(['--table', t, '--create-table', '--batch-size', '15'], recs);
    assert.equal(first.code, 0, first.stderr);
    assert.match(summaryOf(first), /^ct-load: 40 in, 40 inserted, 0 updated, 0 unchanged, 0 rejected, 0 retried, 3 batches,/);
    const [row] = await getBackend().query<Record<string, unknown>>(
      `SELECT nct_id, phases, interventions, enrollment, has_results, embedding::text AS v, embedding_model, raw->'protocolSection'->'identificationModule'->>'nctId' AS raw_id FROM ${q(t)} WHERE nct_id = $1`,
      [recs[0].nct_id],
    );
    assert.deepEqual(row.phases, recs[0].phases);
    assert.deepEqual(row.interventions, recs[0].interventions);
    assert.equal(row.enrollment, recs[0].enrollment);
    assert.equal(row.has_results, recs[0].has_results);
    assert.deepEqual((JSON.parse(row.v as string) as number[]).map(Math.fround), recs[0].embedding);
    assert.equal(row.embedding_model, 'test-model');
    assert.equal(row.raw_id, recs[0].nct_id);

    const before = await xmins(t);
    const again = await load(['--table', t, '--batch-size', '15'], recs);
    assert.equal(again.code, 0, again.stderr);
    assert.match(summaryOf(again), /^ct-load: 40 in, 0 inserted, 0 updated, 40 unchanged,/);
    assert.deepEqual(await xmins(t), before, 'an unchanged rerun must not rewrite any row');
    if (getBackend().name === 'postgres') {
      const [st] = await getBackend().query<{ upd: string }>(
        "SELECT pg_stat_force_next_flush(), n_tup_upd::text AS upd FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
        [q(t)],
      );
      assert.equal(st.upd, '0');
    }

    // A status change (same text, same content_hash) and a new vector both count as changes.
    const changed = recs.map((r) => ({ ...r }));
    changed[3].status = 'WITHDRAWN';
    changed[7].status = 'WITHDRAWN';
    changed[11].embedding = vectorOf('other', 8);
    const third = await load(['--table', t, '--batch-size', '15'], changed);
    assert.equal(third.code, 0, third.stderr);
    assert.match(summaryOf(third), /^ct-load: 40 in, 0 inserted, 3 updated, 37 unchanged,/);
    const afterChange = await xmins(t);
    const rewritten = [...afterChange].filter(([id, x]) => before.get(id) !== x).map(([id]) => id).sort();
    assert.deepEqual(rewritten, [recs[3].nct_id, recs[7].nct_id, recs[11].nct_id].sort());
  });

  test('an unchanged rerun sends no row (skipped by the row digest); with the digest set to NULL a row is compared again', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    assert.equal((await load(['--table', t, '--create-table', '--batch-size', '15'], recs)).code, 0);
    const status = async () => (await getBackend().query<{ s: string }>(`SELECT status AS s FROM ${q(t)} WHERE nct_id = $1`, [recs[5].nct_id]))[0].s;
    // An edit behind ct-load's back leaves the digest as it was: the rerun does not send that row, so it stays.
    await getBackend().query(`UPDATE ${q(t)} SET status = 'EDITED' WHERE nct_id = $1`, [recs[5].nct_id]);
    const before = await xmins(t);
    const again = await load(['--table', t, '--batch-size', '15'], recs);
    assert.equal(again.code, 0, again.stderr);
    assert.match(summaryOf(again), /^ct-load: 40 in, 0 inserted, 0 updated, 40 unchanged,/);
    assert.deepEqual(await xmins(t), before);
    assert.equal(await status(), 'EDITED', 'the row was not sent');
    await getBackend().query(`UPDATE ${q(t)} SET row_digest = NULL WHERE nct_id = $1`, [recs[5].nct_id]);
    const compared = await load(['--table', t, '--batch-size', '15'], recs);
    assert.match(summaryOf(compared), /^ct-load: 40 in, 0 inserted, 1 updated, 39 unchanged,/);
    assert.equal(await status(), recs[5].status);
    // A field the content hash does not cover (the hash is the same) is a change.
    const changed = recs.map((r, i) => (i === 9 ? { ...r, status: 'WITHDRAWN' } : r));
    assert.match(summaryOf(await load(['--table', t, '--batch-size', '15'], changed)), /^ct-load: 40 in, 0 inserted, 1 updated, 39 unchanged,/);
  });

  test('a table without row_digest loads as before; --create-table adds it, the next load fills it, then reruns skip', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    assert.equal((await load(['--table', t, '--create-table'], recs)).code, 0);
    await getBackend().query(`ALTER TABLE ${q(t)} DROP COLUMN row_digest`); // a table from an older ct-load
    const edit = () => getBackend().query(`UPDATE ${q(t)} SET status = 'EDITED' WHERE nct_id = $1`, [recs[5].nct_id]);
    await edit();
    const old = await load(['--table', t], recs);
    assert.equal(old.code, 0, old.stderr);
    assert.match(summaryOf(old), /^ct-load: 40 in, 0 inserted, 1 updated, 39 unchanged,/, 'every row compared: the edit is undone');
    const added = await load(['--table', t, '--create-table'], recs);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /ct-load: added to \S+: row_digest bytea\n/);
    assert.match(summaryOf(added), /^ct-load: 40 in, 0 inserted, 0 updated, 40 unchanged,/, 'filling the digests changes no content');
    const [n] = await getBackend().query<{ n: number }>(`SELECT count(row_digest)::int AS n FROM ${q(t)}`);
    assert.equal(n.n, 40);
    await edit();
    assert.match(summaryOf(await load(['--table', t], recs)), /^ct-load: 40 in, 0 inserted, 0 updated, 40 unchanged,/);
    const [s] = await getBackend().query<{ s: string }>(`SELECT status AS s FROM ${q(t)} WHERE nct_id = $1`, [recs[5].nct_id]);
    assert.equal(s.s, 'EDITED', 'skipped by its digest');
  });

  test('newer wins: an older record never replaces a row (counted, kept); --allow-older forces it', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    assert.equal((await load(['--table', t, '--create-table'], recs)).code, 0);
    const id = recs[2].nct_id;
    const version = (r: Rec, status: string, date: string): Rec => ({ ...r, status, last_update_posted: date });
    const row = async () =>
      (await getBackend().query<{ s: string; d: string }>(`SELECT status AS s, last_update_posted::text AS d FROM ${q(t)} WHERE nct_id = $1`, [id]))[0];
    const newer = await load(['--table', t], [version(recs[2], 'COMPLETED', '2099-06-01')]);
    assert.equal(newer.code, 0, newer.stderr);
    assert.match(summaryOf(newer), /1 in, 0 inserted, 1 updated, 0 unchanged, 0 rejected/);
    const before = await xmins(t);
    // An older version (and one without a date) next to an unchanged record: kept, counted, not rewritten.
    const older = await load(['--table', t], [version(recs[2], 'RECRUITING', '2019-01-01'), recs[3], { ...version(recs[2], 'WITHDRAWN', ''), last_update_posted: null }]);
    assert.equal(older.code, 0, older.stderr);
    assert.match(summaryOf(older), /3 in, 0 inserted, 0 updated, 1 unchanged, 1 older than the table, kept, 0 rejected/);
    assert.match(summaryOf(older), /1 repeated ids/);
    assert.deepEqual(await row(), { s: 'COMPLETED', d: '2099-06-01' });
    assert.deepEqual(await xmins(t), before, 'an older record must not rewrite its row');
    // The same version with other content updates (e.g. a newer ct-prepare changed a field).
    const same = await load(['--table', t], [version(recs[2], 'TERMINATED', '2099-06-01')]);
    assert.match(summaryOf(same), /0 inserted, 1 updated, 0 unchanged, 0 rejected/);
    const forced = await load(['--table', t, '--allow-older'], [version(recs[2], 'RECRUITING', '2019-01-01')]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(summaryOf(forced), /0 inserted, 1 updated, 0 unchanged, 0 rejected/);
    assert.deepEqual(await row(), { s: 'RECRUITING', d: '2019-01-01' });
  });

  test('a record without a vector but with the same content_hash keeps the row\'s vector and model', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    assert.equal((await load(['--table', t, '--create-table'], recs)).code, 0);
    const before = await xmins(t);
    // What `ct-embed --text-field nope` produced: every record without a vector, text unchanged.
    const noVectors = recs.map((r) => ({ ...r, embedding: null, embedding_model: null }));
    const r = await load(['--table', t], noVectors);
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /40 in, 0 inserted, 0 updated, 40 unchanged/);
    assert.deepEqual(await xmins(t), before);
    const counts = async () =>
      (await getBackend().query<{ v: number; m: number }>(`SELECT count(embedding)::int AS v, count(embedding_model)::int AS m FROM ${q(t)}`))[0];
    assert.deepEqual(await counts(), { v: 40, m: 40 });
    // Other content (a new text) with no vector: the old vector no longer describes it, so it goes.
    const edited = [{ ...noVectors[4], content_hash: 'f'.repeat(64), status: 'WITHDRAWN' }];
    const e = await load(['--table', t], edited);
    assert.match(summaryOf(e), /1 in, 0 inserted, 1 updated/);
    assert.deepEqual(await counts(), { v: 39, m: 39 });
  });

  test('--no-embeddings: no vector column when creating; existing vectors untouched when loading', async () => {
    const t = table();
    dropAfter.push(t);
    const r1 = await load(['--table', t, '--create-table', '--no-embeddings'], records());
    assert.equal(r1.code, 0, r1.stderr);
    const cols = await getBackend().query<{ c: string }>(
      'SELECT attname AS c FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped',
      [q(t)],
    );
    assert.ok(!cols.some((c) => c.c === 'embedding' || c.c === 'embedding_model'), 'no embedding columns');

    const t2 = table();
    dropAfter.push(t2);
    assert.equal((await load(['--table', t2, '--create-table'], records())).code, 0);
    const r2 = await load(['--table', t2, '--no-embeddings'], records({ dims: 0 }));
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(summaryOf(r2), /0 inserted, 0 updated, 40 unchanged/);
    const [n] = await getBackend().query<{ n: number }>(`SELECT count(embedding)::int AS n FROM ${q(t2)}`);
    assert.equal(n.n, 40);
  });

  test('--create-table adds the fields a table lacks: a --no-embeddings load, then vectors and an index', async () => {
    const t = table();
    dropAfter.push(t);
    assert.equal((await load(['--table', t, '--create-table', '--no-embeddings'], records())).code, 0);
    const recs = records().map((r, i) => ({ ...r, score: i / 4, note: null }));
    // Without --create-table the fields are reported, not loaded.
    const plain = await load(['--table', t, '--index', 'hnsw'], recs);
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderr, /--index hnsw: \S+ has no vector column to index/);
    assert.match(plain.stderr, /fields not in \S+, not loaded: embedding, embedding_model, score, note \(--create-table adds them\)/);
    const r = await load(['--table', t, '--create-table', '--index', 'hnsw'], recs);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /ct-load: added to \S+: embedding vector\(8\), embedding_model text, score double precision\n/);
    assert.match(r.stderr, /fields not in \S+, not loaded: note \(no values in the first records to choose a type from\)/);
    assert.match(summaryOf(r), /40 in, 0 inserted, 40 updated, 0 unchanged, .*HNSW index \S+ built in/);
    const [row] = await getBackend().query<{ v: number; m: number; s: number }>(
      `SELECT count(embedding)::int AS v, count(DISTINCT embedding_model)::int AS m, sum(score)::float8 AS s FROM ${q(t)}`,
    );
    assert.deepEqual(row, { v: 40, m: 1, s: (39 * 40) / 2 / 4 });
    const again = await load(['--table', t, '--create-table', '--index', 'hnsw'], recs);
    assert.match(summaryOf(again), /40 in, 0 inserted, 0 updated, 40 unchanged, .*kept/);
  });

  test('dimension and model mismatches stop the run before any row is written', async () => {
    const t = table();
    dropAfter.push(t);
    // Within the first batch: nothing at all is written.
    const mixed = records();
    mixed[20].embedding = vectorOf('x', 16);
    const r1 = await load(['--table', t, '--create-table'], mixed);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /ct-load: stdin:21: nct_id \S+: field "embedding": vector has 16 dimensions, the column has 8/);
    const count = async () => (await getBackend().query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(t)}`))[0].n;
    assert.equal(await count(), 0);
    assert.equal((await load(['--table', t], records())).code, 0);
    assert.equal(await count(), 40);
    // Against the table: other dimension, other model.
    const r2 = await load(['--table', t], records({ dims: 16 }));
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /vector has 16 dimensions, the column has 8/);
    const r3 = await load(['--table', t], records({ model: 'other-model' }));
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /ct-load: stdin:1: embedding_model "other-model" differs from "test-model" of the table/);
    const mixedModels = records();
    mixedModels[30].embedding_model = 'other-model';
    const r4 = await load(['--table', t, '--create-table', '--drop-table'], mixedModels);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /stdin:31: embedding_model "other-model" differs from "test-model" of earlier records \(stdin:1\)/);
    assert.equal(await count(), 0);
  });

  test('--create-table: malformed vectors are rejected records with their position, never a jsonb column', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records();
    const bad = new Map<number, unknown>([
      [1, recs[1].embedding!.map((x, i) => (i === 3 ? 'NaN' : x))],
      [2, 'NaN'],
      [4, vectorOf('short', 5)],
      [6, { x: 1 }],
    ]);
    const input = ndjson(recs.map((r, i) => (bad.has(i) ? { ...r, embedding: bad.get(i) } : r))).replace('"embedding":[', '"embedding":[1e999,');
    const rejects = join(tmp, `${t}.rejects.ndjson`);
    const r = await run('ct-load', ['--table', t, '--create-table', '--rejects', rejects], input, getBackend().db);
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /^ct-load: 40 in, 35 inserted, 0 updated, 0 unchanged, 5 rejected,/);
    const [col] = await getBackend().query<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding'`, [q(t)]);
    assert.equal(col.t, 'vector(8)');
    const rej = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { where: string; reason: string });
    assert.deepEqual(rej.map((x) => x.where), ['stdin:1', 'stdin:2', 'stdin:3', 'stdin:5', 'stdin:7']);
    assert.match(rej[0].reason, /field "embedding": a vector needs|field "embedding": vector has 9 dimensions, the column has 8/);
    assert.match(rej[1].reason, /field "embedding": vector element 3 is not a finite number/);
    assert.match(rej[2].reason, /field "embedding": expected a vector \(array of numbers\), got "NaN"/);
    assert.match(rej[3].reason, /field "embedding": vector has 5 dimensions, the column has 8/);
    assert.match(rej[4].reason, /field "embedding": expected a vector \(array of numbers\), got an object/);
    const [n] = await getBackend().query<{ n: number }>(`SELECT count(embedding)::int AS n FROM ${q(t)}`);
    assert.equal(n.n, 35);
  });

  test('NDJSON parsed in worker threads loads the same rows and the same rejects as parsed on the main thread', async () => {
    const recs = records({ copies: 3 }) as unknown as Array<Record<string, unknown>>;
    recs[20] = { ...recs[20], embedding: [...(recs[20].embedding as number[]).slice(0, 7), 1e39] }; // beyond float32
    recs[21] = { ...recs[21], enrollment: 'many' };
    recs[22] = { ...recs[22], nct_id: undefined };
    recs[23] = { ...recs[23], embedding: (recs[23].embedding as number[]).slice(0, 5) };
    recs[30] = { ...recs[30], raw: { ...(recs[30].raw as object), note: 'naïve 试验 😀 "quoted" \\ back' } };
    recs[31] = { ...recs[31], nct_id: recs[29].nct_id }; // a repeated id, in another batch: the later record wins
    recs[32] = { ...recs[32], title: 'a\u0000b', raw: { ...(recs[32].raw as object), nul: 'c\u0000d' } }; // NULs: removed, counted
    const lines = recs.map((r) => JSON.stringify(r));
    lines.splice(25, 0, '{not json', '', '[1, 2]');
    lines[40] = lines[40] + '\r';
    // the last line (no final newline) has invalid UTF-8 inside raw: U+FFFD on both paths, never sent as it is
    const bytes = Buffer.from(lines.join('\n') + '\n' + JSON.stringify({ ...recs[1], nct_id: 'NCT-BAD-UTF8', raw: { t: 'QX' } }));
    bytes[bytes.lastIndexOf(Buffer.from('"QX"')) + 1] = 0xff;
    const tables = { main: table(), workers: table() };
    dropAfter.push(tables.main);
    dropAfter.push(tables.workers);
    const runs = [];
    for (const [t, workers] of [[tables.main, '0'], [tables.workers, '2']] as const) {
      const rejects = join(tmp, `${t}.rejects.ndjson`);
      const r = await run('ct-load', ['--table', t, '--create-table', '--batch-size', '7', '--rejects', rejects], bytes, { ...getBackend().db, env: { CT_PARSE_WORKERS: workers, CT_DEBUG: '1' } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(/parsing the rest of stdin in 2 worker threads/.test(r.stderr), workers === '2', r.stderr);
      runs.push({ summary: summaryOf(r).replace(/, [0-9.]+ ?m?s \(.*$/, ''), rejects: readFileSync(rejects, 'utf8').replaceAll(t, 'TABLE') });
    }
    assert.match(runs[0].summary, /^ct-load: 123 in, .* 6 rejected, .*, 1 with NUL characters cleaned/);
    assert.equal(runs[1].summary, runs[0].summary);
    const [rejMain, rejWorkers] = runs.map((x) => x.rejects.trim().split('\n'));
    assert.equal(rejWorkers.length, rejMain.length);
    rejMain.forEach((l, i) => assert.ok(l === rejWorkers[i], `reject ${i}: ${l.slice(0, 300)} <> ${rejWorkers[i].slice(0, 300)}`));
    const rej = runs[0].rejects.trim().split('\n').map((l) => JSON.parse(l) as { where: string; reason: string; record: unknown });
    assert.deepEqual(rej.map((x) => x.where), ['stdin:21', 'stdin:22', 'stdin:23', 'stdin:24', 'stdin:26', 'stdin:28']);
    assert.match(rej[0].reason, /vector element 7 \(1e\+39\) is beyond the float32 range/);
    assert.deepEqual(rej[1].record, recs[21], 'the record as it was, every field');
    const rows = (t: string) =>
      getBackend().query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(x) - 'loaded_at' AS r FROM ${q(t)} x ORDER BY nct_id`);
    const [a, b] = [await rows(tables.main), await rows(tables.workers)];
    assert.equal(a.length, 116);
    assert.deepEqual(b, a);
    const bad = a.find((x) => x.r.nct_id === 'NCT-BAD-UTF8');
    assert.deepEqual((bad?.r.raw as { t: string }).t, '\ufffdX');
  });

  test('a NUL character in a text or jsonb field is removed and counted; the good records of its batch load', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records({ dims: 0 });
    recs[2].title = 'Bad\u0000Title';
    recs[5].conditions = ['A\u0000B'];
    recs[7] = { ...recs[7], raw: { ...(recs[7].raw as object), note: 'x\u0000y' } }; // not the shared study object: later tests read it
    const r = await run('ct-load', ['--table', t, '--create-table'], ndjson(recs), getBackend().db);
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /^ct-load: 40 in, 40 inserted, 0 updated, 0 unchanged, 0 rejected, 0 retried, 1 batches, 3 with NUL characters cleaned,/);
    const rows = await getBackend().query<{ title: string; c: string[]; note: string }>(
      `SELECT title, conditions AS c, raw->>'note' AS note FROM ${q(t)} WHERE nct_id = ANY($1) ORDER BY nct_id`,
      [[recs[2].nct_id, recs[5].nct_id, recs[7].nct_id]],
    );
    const byId = (i: number) => rows[[recs[2], recs[5], recs[7]].map((x) => x.nct_id).sort().indexOf(recs[i].nct_id)];
    assert.equal(byId(2).title, 'BadTitle');
    assert.deepEqual(byId(5).c, ['AB']);
    assert.equal(byId(7).note, 'xy');
  });

  test('a table name with quotes and semicolons stays a name', async () => {
    const t = `${tableBase}_"x"; DROP TABLE y; --`;
    dropAfter.push(t);
    const r = await load(['--table', t, '--create-table', '--index', 'hnsw'], records());
    assert.equal(r.code, 0, r.stderr);
    const [row] = await getBackend().query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(t)}`);
    assert.equal(row.n, 40);
  });

  test('--index hnsw: a study finds its own vector first', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records({ dims: 32 });
    const r = await load(['--table', t, '--create-table', '--index', 'hnsw'], recs);
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /HNSW index \S+ built in/);
    const id = recs[17].nct_id;
    const sql = `SELECT nct_id FROM ${q(t)} ORDER BY embedding <=> (SELECT embedding FROM ${q(t)} WHERE nct_id = $1) LIMIT 3`;
    const top = await getBackend().query<{ nct_id: string }>(sql, [id]);
    assert.equal(top[0].nct_id, id);
    const again = await load(['--table', t, '--index', 'hnsw'], recs);
    assert.match(summaryOf(again), /HNSW index \S+ kept \(nothing changed\)/);
    const ix = await getBackend().query<{ def: string }>(
      'SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisprimary AND indisvalid',
      [q(t)],
    );
    // With it, ct-search's full-text index (on the expression --hybrid queries) and its model index.
    const defs = ix.map((i) => i.def).sort();
    assert.equal(defs.length, 3, defs.join('\n'));
    assert.match(defs[0]!, /_embedding_hnsw ON .* USING hnsw \(embedding vector_cosine_ops\)$/);
    assert.match(defs[1]!, /_embedding_model_idx ON .* USING btree \(embedding_model\) WHERE \(embedding IS NOT NULL\)$/);
    assert.match(defs[2]!, /_text_tsv_fts ON .* USING gin \(text_tsv\)$/);
    if (getBackend().name === 'postgres') {
      // ct-search's queries can use them: the --hybrid full-text part, and the model probes (no row scan).
      await getBackend().query('SET enable_seqscan = off');
      try {
        const tn = parseTableName(t);
        const hybrid = searchSql({ table: tn.sql, idColumn: 'nct_id', embeddingColumn: 'embedding', select: ['nct_id'], limit: 3, hybrid: true, tsvColumn: 'text_tsv' }, {}, `[${Array(32).fill(0.1).join(',')}]`, 'cancer');
        const hplan = (await getBackend().query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${hybrid.sql}`, hybrid.params)).map((p) => p['QUERY PLAN']).join('\n');
        assert.match(hplan, /Bitmap Index Scan on \S*_text_tsv_fts/);
        assert.doesNotMatch(hplan, /to_tsvector/, 'the matches are ranked from the stored column, not computed again');
        const mplan = (await getBackend().query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${modelProbeSql(tn, 'embedding', true)}`)).map((p) => p['QUERY PLAN']).join('\n');
        assert.equal((mplan.match(/Index Only Scan (Backward )?using \S*_embedding_model_idx/g) ?? []).length, 3, mplan);
        assert.doesNotMatch(mplan, /Seq Scan|Sort/);
      } finally {
        await getBackend().query('RESET enable_seqscan');
      }
      // With sequential scans off the same query goes through the index and still finds the study first.
      await getBackend().query('SET enable_seqscan = off');
      try {
        const plan = await getBackend().query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${sql}`, [id]);
        assert.match(plan.map((p) => p['QUERY PLAN']).join('\n'), /Index Scan using \S*_embedding_hnsw/);
        assert.equal((await getBackend().query<{ nct_id: string }>(sql, [id]))[0].nct_id, id);
      } finally {
        await getBackend().query('RESET enable_seqscan');
      }
    }
  });

  test('--index hnsw on a table an older version indexed: the stored tsvector column replaces the expression index; writes keep it current; ct-search leaves it out', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records({ dims: 32 });
    assert.equal((await load(['--table', t, '--create-table'], recs)).code, 0);
    // What --index hnsw built before: a GIN index on the expression, no column.
    const tn = parseTableName(t);
    await getBackend().query(`CREATE INDEX ${q(tn.name + '_text_fts')} ON ${tn.sql} USING gin (to_tsvector('english', coalesce("text", '')))`);
    const r = await load(['--table', t, '--index', 'hnsw'], recs);
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /built text_tsv column, \S+_text_tsv_fts/);
    const ix = await getBackend().query<{ def: string }>('SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisprimary', [tn.sql]);
    assert.equal(ix.filter((i) => /_text_fts ON/.test(i.def)).length, 0, 'the expression index is dropped');
    assert.equal(ix.filter((i) => /_text_tsv_fts ON .* USING gin \(text_tsv\)$/.test(i.def)).length, 1);
    const gen = await getBackend().query<{ g: string }>(`SELECT attgenerated::text AS g FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'text_tsv'`, [tn.sql]);
    assert.equal(gen[0]?.g, 's');
    // A load that changes a text changes its tsvector; records that carry a text_tsv field of their own load too.
    const changed = recs.map((x, i) => (i === 3 ? { ...x, text: 'zebrafish xenograft', text_tsv: 'ignored' } : x));
    const again = await load(['--table', t, '--index', 'hnsw'], changed);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(summaryOf(again), /text_tsv column/, 'added once');
    const hit = await getBackend().query<{ nct_id: string }>(`SELECT nct_id FROM ${tn.sql} WHERE text_tsv @@ to_tsquery('english', 'zebrafish')`);
    assert.deepEqual(hit.map((h) => h.nct_id), [recs[3].nct_id]);
    const db = { query: async (sql: string, params?: unknown[]) => ({ rows: await getBackend().query(sql, params) }) } as unknown as Db;
    const target = await openSearchTarget(db, tn, 'nct_id');
    assert.equal(target.tsvColumn, 'text_tsv');
    assert.ok(!target.columns.includes('text_tsv') && target.columns.includes('text'), target.columns.join(', '));
  });

  test('--index hnsw: a small change keeps the index (same relfilenode), a bulk change rebuilds it', async () => {
    const t = table();
    dropAfter.push(t);
    const recs = records({ dims: 16 });
    const first = await load(['--table', t, '--create-table', '--index', 'hnsw'], recs);
    assert.match(summaryOf(first), /HNSW index \S+ built in/);
    const file = async () =>
      (await getBackend().query<{ f: string }>(
        "SELECT c.oid::text || '/' || c.relfilenode::text AS f FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = to_regclass($1) AND am.amname = 'hnsw'",
        [q(t)],
      )).map((r) => r.f);
    const before = await file();
    assert.equal(before.length, 1);
    const one = recs.map((r) => ({ ...r }));
    one[6] = { ...one[6], status: 'WITHDRAWN', embedding: vectorOf('new', 16) };
    const small = await load(['--table', t, '--index', 'hnsw'], one);
    assert.equal(small.code, 0, small.stderr);
    assert.match(summaryOf(small), /0 inserted, 1 updated, 39 unchanged, .*HNSW index \S+ kept, updated in place \(1 row changed\)$/);
    assert.deepEqual(await file(), before, 'the same index, not rebuilt');
    // The updated row is found through the index.
    const top = await getBackend().query<{ nct_id: string }>(
      `SELECT nct_id FROM ${q(t)} ORDER BY embedding <=> $1::vector LIMIT 1`,
      [JSON.stringify(vectorOf('new', 16))],
    );
    assert.equal(top[0].nct_id, recs[6].nct_id);
    // Half the table changes: past REBUILD_FRACTION the index is dropped and built again after the load.
    const half = one.map((r, i) => (i < 20 ? { ...r, embedding: vectorOf(`half${i}`, 16) } : r));
    const bulk = await load(['--table', t, '--index', 'hnsw', '--batch-size', '10'], half);
    assert.equal(bulk.code, 0, bulk.stderr);
    assert.match(bulk.stderr, /ct-load: 20 of 40 rows changed so far: dropped HNSW index \S+, to build it again after the load/);
    assert.match(summaryOf(bulk), /0 inserted, 20 updated, 20 unchanged, .*HNSW index \S+ rebuilt in .*: 20 of 40 rows changed, more than 25%$/);
    const after = await file();
    assert.equal(after.length, 1);
    assert.notDeepEqual(after, before);
  });

  test('ct-prepare --skip-existing drops studies already loaded with the same content', async () => {
    const t = table();
    dropAfter.push(t);
    const raw = ndjson(studies);
    const missing = await run('ct-prepare', ['--skip-existing', '--table', t], raw, getBackend().db);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stderr, /does not exist yet .*nothing is skipped/);
    assert.equal(missing.stdout.trim().split('\n').length, 40);
    assert.equal((await load(['--table', t, '--create-table'], records())).code, 0);
    // Two studies changed upstream: a new title changes the embedded text and its hash.
    const edited = studies.map((s) => structuredClone(s));
    for (const i of [5, 9]) {
      const idm = (edited[i].protocolSection as { identificationModule: { briefTitle: string } }).identificationModule;
      idm.briefTitle += ' (revised)';
    }
    const r = await run('ct-prepare', ['--skip-existing', '--table', t], ndjson(edited), getBackend().db);
    assert.equal(r.code, 0, r.stderr);
    const ids = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Rec).nct_id);
    assert.deepEqual(ids, [records()[5].nct_id, records()[9].nct_id]);
    assert.match(summaryOf(r), /38 already in the table/);
    const any = await run('ct-prepare', ['--skip-existing=any', '--table', t], ndjson(edited), getBackend().db);
    assert.equal(any.code, 0, any.stderr);
    assert.equal(any.stdout, '');
    assert.match(summaryOf(any), /40 already in the table/);
  });
}

describe('ct-load against PostgreSQL', () => {
  let backend: Backend;
  before(async () => {
    backend = await postgres();
  });
  const base = `ct_load_test_${process.pid}`;
  sharedCases(() => backend, base);
  after(() => backend.close());

  test('a missing table is a clear error without --create-table', async () => {
    const r = await run('ct-load', ['--table', `${base}_missing`], ndjson(records()), backend.db);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`ct-load: table "${base}_missing" does not exist in ${esc(DATABASE_URL)} \\(use --create-table\\)`));
  });

  test('--table schema.table --create-table creates a missing schema too', async () => {
    const schema = `${base}_lit`;
    try {
      const r = await run('ct-load', ['--table', `${schema}.papers`, '--create-table', '-q'], ndjson(records()), backend.db);
      assert.equal(r.code, 0, r.stderr);
      const [n] = await backend.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(schema)}."papers"`);
      assert.equal(n.n, 40);
      const again = await run('ct-load', ['--table', `${schema}.papers`, '--create-table'], ndjson(records()), backend.db);
      assert.match(summaryOf(again), /40 unchanged/);
    } finally {
      await backend.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    }
  });

  test('large values are compressed with lz4 unless the session chose a method (here in the URL\'s options)', async () => {
    const methods = async (t: string) =>
      (await backend.query<{ m: string | null }>(`SELECT DISTINCT pg_column_compression(raw) AS m FROM ${q(t)} WHERE pg_column_size(raw) > 2000`)).map((r) => r.m);
    const lz4 = `${base}_lz4`;
    const pglz = `${base}_pglz`;
    backend.track(lz4);
    backend.track(pglz);
    const [{ has }] = await backend.query<{ has: boolean }>(`SELECT 'lz4' = ANY (enumvals) AS has FROM pg_settings WHERE name = 'default_toast_compression'`);
    const a = await run('ct-load', ['--table', lz4, '--create-table', '-q'], ndjson(records()), backend.db);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(await methods(lz4), [has ? 'lz4' : 'pglz']);
    const url = `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c default_toast_compression=pglz')}`;
    const b = await run('ct-load', ['--table', pglz, '--create-table', '-q'], ndjson(records()), { url });
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(await methods(pglz), ['pglz']);
  });

  test('Arrow input (vectors read as float32 views) loads the same table as NDJSON; rejects show vectors as arrays', async () => {
    const recs: object[] = records({ dims: 16 });
    recs[5] = { ...recs[5], enrollment: 'many' }; // not an integer: rejected
    const enc = new ArrowEncoder(16); // several Arrow batches, cut differently from the COPY batches
    const arrowPath = join(tmp, 'load-input.arrow');
    writeFileSync(arrowPath, Buffer.concat([...recs.map((r) => enc.push(r as Record<string, unknown>) ?? Buffer.alloc(0)), enc.end()]));
    const tables = { arrow: `${base}_from_arrow`, ndjson: `${base}_from_ndjson` };
    try {
      const args = (t: string, rejects: string) => ['--table', t, '--create-table', '--batch-size', '15', '--rejects', rejects];
      const a = await run('ct-load', [arrowPath, ...args(tables.arrow, join(tmp, 'arrow.rejects'))], '', backend.db);
      assert.equal(a.code, 0, a.stderr);
      assert.match(summaryOf(a), /^ct-load: 40 in, 39 inserted, 0 updated, 0 unchanged, 1 rejected,/);
      const n = await run('ct-load', args(tables.ndjson, join(tmp, 'ndjson.rejects')), ndjson(recs), backend.db);
      assert.equal(n.code, 0, n.stderr);
      const rows = (t: string) =>
        backend.query<{ r: Record<string, unknown>; v: string }>(
          `SELECT to_jsonb(x) - 'loaded_at' - 'embedding' AS r, embedding::text AS v FROM ${q(t)} x ORDER BY nct_id`,
        );
      const [fromArrow, fromNdjson] = [await rows(tables.arrow), await rows(tables.ndjson)];
      assert.equal(fromArrow.length, 39);
      assert.deepEqual(fromArrow, fromNdjson);
      const byId = new Map(fromArrow.map((x) => [x.r.nct_id, x.v]));
      const first = recs[0] as Rec;
      assert.deepEqual((JSON.parse(byId.get(first.nct_id) as string) as number[]).map(Math.fround), first.embedding);
      const types = (t: string) =>
        backend.query<{ t: string }>(
          'SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 ORDER BY attnum',
          [t],
        );
      assert.deepEqual(await types(tables.arrow), await types(tables.ndjson));
      assert.ok((await types(tables.arrow)).some((x) => x.t === 'vector(16)'));
      const rejected = (f: string) => JSON.parse(readFileSync(join(tmp, f), 'utf8')) as { where: string; reason: string; record: Rec };
      const [ra, rn] = [rejected('arrow.rejects'), rejected('ndjson.rejects')];
      assert.equal(ra.where, `${arrowPath}:6`);
      assert.equal(ra.reason, rn.reason);
      assert.match(ra.reason, /field "enrollment": expected an integer, got "many"/);
      // The same record; Arrow's float32 values are spelled as their shortest text (the NDJSON line as it was).
      const r5 = recs[5] as Rec;
      assert.deepEqual(ra.record, { ...r5, embedding: float32Values(r5.embedding as number[]) });
      assert.deepEqual(rn.record, r5);
    } finally {
      for (const t of Object.values(tables)) await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
    }
  });

  test('another dataset with --id-field: columns and types from the records', async () => {
    const t = `${base}_papers`;
    const papers = Array.from({ length: 30 }, (_, i) => ({
      doi: `10.1000/${i}`, title: `Paper ${i}`, year: 2000 + i, score: i / 7, open: i % 2 === 0,
      tags: ['a', `t${i}`], meta: { pages: i }, vec: vectorOf(`p${i}`, 4),
    }));
    try {
      const r = await run('ct-load', ['--table', t, '--id-field', 'doi', '--create-table', '--batch-size', '7'], ndjson(papers), backend.db);
      assert.equal(r.code, 0, r.stderr);
      assert.match(summaryOf(r), /30 in, 30 inserted/);
      const types = await backend.query<{ c: string; t: string }>(
        'SELECT attname AS c, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 ORDER BY attnum',
        [t],
      );
      assert.deepEqual(
        types.map((x) => `${x.c} ${x.t}`),
        ['doi text', 'title text', 'year integer', 'score double precision', 'open boolean', 'tags text[]', 'meta jsonb', 'vec vector(4)', 'loaded_at timestamp with time zone', 'row_digest bytea'],
      );
      const again = await run('ct-load', ['--table', t, '--id-field', 'doi'], ndjson(papers), backend.db);
      assert.match(summaryOf(again), /30 in, 0 inserted, 0 updated, 30 unchanged/);
      // No version column by default for other datasets; --version-field names one (an integer here).
      const edits = [{ ...papers[3], year: 1990, title: 'older' }, { ...papers[4], year: 2090, title: 'newer' }];
      const versioned = await run('ct-load', ['--table', t, '--id-field', 'doi', '--version-field', 'year'], ndjson(edits), backend.db);
      assert.match(summaryOf(versioned), /2 in, 0 inserted, 1 updated, 0 unchanged, 1 older than the table, kept,/);
      const plain = await run('ct-load', ['--table', t, '--id-field', 'doi'], ndjson(edits), backend.db);
      assert.match(summaryOf(plain), /2 in, 0 inserted, 1 updated, 1 unchanged,/);
      const unknown = await run('ct-load', ['--table', t, '--id-field', 'doi', '--version-field', 'nope'], ndjson(edits), backend.db);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /ct-load: --version-field nope: "\S+" has no such column/);
    } finally {
      await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
    }
  });

  test('--jobs: batches sharing an id are written in input order (the later record wins), as with one job', async () => {
    // Rounds of the same 10 ids in consecutive batches of 10, every other round in reverse order: written at
    // once, two rounds would meet in the middle (a deadlock, or the older round committed last) and leave
    // some of the older round's titles.
    const base10 = records().slice(0, 10);
    const rounds = 8;
    const recs: Rec[] = [];
    for (let r = 1; r <= rounds; r++) {
      const ids = r % 2 ? base10 : [...base10].reverse();
      for (const x of ids) recs.push({ ...x, title: `round ${r}`, content_hash: `${x.content_hash}-${r}` });
    }
    recs.push(...records().slice(10));
    const tables = { one: `${base}_jobs1`, three: `${base}_jobs3` };
    try {
      const a = await run('ct-load', ['--table', tables.one, '--create-table', '--batch-size', '10', '-j', '1'], ndjson(recs), backend.db);
      assert.equal(a.code, 0, a.stderr);
      const b = await run('ct-load', ['--table', tables.three, '--create-table', '--batch-size', '10', '-j', '3'], ndjson(recs), backend.db);
      assert.equal(b.code, 0, b.stderr);
      assert.match(summaryOf(b), /^ct-load: 110 in, 40 inserted, 70 updated, 0 unchanged, 0 rejected, 0 retried, 11 batches/);
      const rows = (t: string) => backend.query<{ id: string; title: string }>(`SELECT nct_id AS id, title FROM ${q(t)} ORDER BY nct_id`);
      const got = await rows(tables.three);
      assert.deepEqual(got, await rows(tables.one));
      const last = new Map(got.map((r) => [r.id, r.title]));
      for (const x of base10) assert.equal(last.get(x.nct_id), `round ${rounds}`, x.nct_id);
    } finally {
      for (const t of Object.values(tables)) await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
    }
  });

  test('--jobs: a server that refuses a second connection gets one batch at a time, and every row', async () => {
    const role = `ct_load_one_${process.pid}`;
    const t = `${base}_onejob`;
    await backend.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
    try {
      await backend.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      const u = new URL(DATABASE_URL);
      u.username = role;
      u.password = '';
      const r = await run('ct-load', ['--table', t, '--create-table', '--batch-size', '7', '-j', '2'], ndjson(records()), { url: u.toString() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /ct-load: could not open connection 2 of --jobs 2 \(.*too many connections.*\); writing one batch at a time\n/);
      assert.match(summaryOf(r), /^ct-load: 40 in, 40 inserted, 0 updated, 0 unchanged, 0 rejected, 0 retried, 6 batches/);
      assert.equal((await backend.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(t)}`))[0].n, 40);
    } finally {
      await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
      await backend.query(`DROP OWNED BY ${role}`);
      await backend.query(`DROP ROLE ${role}`);
    }
  });

  test('the backend terminated mid-COPY: no partial batch is visible, and a rerun completes', async () => {
    const t = `${base}_kill`;
    const recs = records({ dims: 1536, raw: false, copies: 100 }); // 4000 rows, ≈ 30 MB of vectors
    const input = ndjson(recs);
    const count = async () => (await backend.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(t)}`))[0].n;
    try {
      let killed = 0;
      const kill = async () => {
        // Wait for the loader's backend to be inside a COPY, then terminate it.
        for (let i = 0; i < 2000 && !killed; i++) {
          const rows = await backend.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'ct-load' AND datname = current_database() AND state = 'active' AND query LIKE 'COPY%'",
          );
          if (rows.length) {
            const [res] = await backend.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [rows[0].pid]);
            if (res.ok) killed++;
          } else {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      };
      let killing: Promise<void> | undefined;
      const r = await run('ct-load', ['--table', t, '--create-table', '--batch-size', '250', '--max-retries', '0'], input, backend.db, () => {
        killing = kill();
      });
      await killing;
      assert.equal(killed, 1, 'the loader backend was caught inside a COPY');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /ct-load: batch \d+ \(stdin:\d+–stdin:\d+\): terminating connection due to administrator command/);
      const n = await count();
      assert.ok(n < recs.length && n % 250 === 0, `whole batches only, got ${n} rows`);
      const again = await run('ct-load', ['--table', t, '--batch-size', '250'], input, backend.db);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await count(), recs.length);
      assert.match(summaryOf(again), new RegExp(`${recs.length - n} inserted, 0 updated, ${n} unchanged`));
    } finally {
      await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
    }
  });

  test('with retries, a terminated backend is reconnected and the batch retried', async () => {
    const t = `${base}_retry`;
    const recs = records({ dims: 1536, raw: false, copies: 100 });
    try {
      let killed = false;
      let killing: Promise<void> | undefined;
      const r = await run('ct-load', ['--table', t, '--create-table', '--batch-size', '250'], ndjson(recs), backend.db, () => {
        killing = (async () => {
          for (let i = 0; i < 2000 && !killed; i++) {
            const rows = await backend.query<{ pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE application_name = 'ct-load' AND datname = current_database() AND state = 'active' AND query LIKE 'COPY%'",
            );
            if (rows.length) killed = (await backend.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [rows[0].pid]))[0].ok;
            else await new Promise((res) => setTimeout(res, 5));
          }
        })();
      });
      await killing;
      assert.ok(killed);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /reconnecting and retrying/);
      assert.match(summaryOf(r), new RegExp(`${recs.length} in, ${recs.length} inserted, 0 updated, 0 unchanged, 0 rejected, 1 retried`));
      const [row] = await backend.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(t)}`);
      assert.equal(row.n, recs.length);
    } finally {
      await backend.query(`DROP TABLE IF EXISTS ${q(t)}`);
    }
  });
});

describe('ct-load against PGlite', () => {
  const dir = join(tmp, 'pglite');
  const backend = pglite(dir);
  sharedCases(() => backend, 'ct_load_test');

  test('PGlite cuts batches at its own, smaller byte budget; every row arrives whole', async () => {
    const d = join(tmp, 'pglite-budget');
    // 40 rows of ≈ 250 KB: 10 MB, one batch under the Postgres budget (16 MB), two under PGlite's (8 MB).
    const big = records({ dims: 8, raw: false, copies: 1 }).slice(0, 40).map((r, i) => ({ ...r, text: `${i} ${'x'.repeat(250_000)}` }));
    assert.equal(big.length, 40);
    const r = await run('ct-load', ['--table', 'budget', '--create-table', '--pglite-dir', d], ndjson(big), {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(summaryOf(r), /^ct-load: 40 in, 40 inserted, .* 2 batches,/);
    const [row] = await pglite(d).query<{ n: number; len: number }>('SELECT count(*)::int AS n, min(length(text))::int AS len FROM budget');
    assert.deepEqual(row, { n: 40, len: 250_002 });
  });

  test('two writers on one PGlite directory: the second is refused at once, naming the first; the table is intact', async () => {
    const d = join(tmp, 'pglite-two');
    const big = records({ dims: 256, raw: false, copies: 25 }); // 1000 rows: the first writer takes a while
    const first = run('ct-load', ['--table', 'two', '--create-table', '--batch-size', '100', '--pglite-dir', d], ndjson(big), {});
    const lockFile = join(d, '.ct-lock');
    for (let i = 0; i < 600 && !existsSync(lockFile); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(lockFile), 'the first writer holds the lock');
    const holder = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number };
    const second = await run('ct-load', ['--table', 'two', '--create-table', '--pglite-dir', d], ndjson(records()), {});
    const done = await first;
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr.trim().split('\n').at(-1) ?? '',
      new RegExp(`^ct-load: ${esc(d)} is in use by ct-load, pid ${holder.pid} \\(since \\d\\d:\\d\\d:\\d\\d UTC\\); PGlite allows one process at a time: run this when it has finished, or use a Postgres server \\(DATABASE_URL\\)$`),
    );
    assert.equal(done.code, 0, done.stderr);
    assert.ok(!existsSync(lockFile), 'the lock is released at the end');
    const [row] = await pglite(d).query<{ n: number; v: number }>('SELECT count(*)::int AS n, count(embedding)::int AS v FROM two');
    assert.deepEqual(row, { n: 1000, v: 1000 });
  });

  test('a SIGKILLed writer\'s lock is taken over by the next one, which completes the load', async () => {
    const d = join(tmp, 'pglite-killed');
    const big = records({ dims: 256, raw: false, copies: 25 });
    const lockFile = join(d, '.ct-lock');
    const first = run('ct-load', ['--table', 'killed', '--create-table', '--batch-size', '100', '--pglite-dir', d], ndjson(big), {});
    for (let i = 0; i < 600 && !existsSync(lockFile); i++) await new Promise((r) => setTimeout(r, 20));
    const holder = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number };
    process.kill(holder.pid, 'SIGKILL');
    assert.equal((await first).code, null, 'killed by the signal');
    assert.ok(existsSync(lockFile), 'a SIGKILL leaves the lock file');
    const again = await run('ct-load', ['--table', 'killed', '--create-table', '--batch-size', '100', '--pglite-dir', d], ndjson(big), {});
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`ct-load: ${esc(d)}: took over the lock of ct-load, pid ${holder.pid} \\(since [^)]*\\), which no longer runs`));
    const [row] = await pglite(d).query<{ n: number }>('SELECT count(*)::int AS n FROM killed');
    assert.equal(row.n, 1000);
  });

  test('read-only commands on a missing PGlite directory exit 1 and create nothing', async () => {
    const d = join(tmp, 'pglite-none', 'db');
    const hint = `no database at ${d} (load one with ct-load --create-table, or set DATABASE_URL)`;
    const cases: [string, string[], string][] = [
      ['ct-search', ['cancer'], ''],
      ['ct-load', ['--newest', 'last_update_posted'], ''],
      ['ct-prepare', ['--skip-existing'], ndjson(studies)],
    ];
    for (const [tool, args, input] of cases) {
      const r = await run(tool, [...args, '--pglite-dir', d], input, {});
      assert.equal(r.code, 1, `${tool}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').at(-1), `${tool}: ${hint}`, tool);
      assert.equal(r.stdout, '', tool);
      assert.ok(!existsSync(join(tmp, 'pglite-none')), `${tool} created nothing`);
    }
  });

  test('without any database setting, PGlite is used and named', async () => {
    const r = await run('ct-load', ['--table', 'named', '--create-table', '-q'], ndjson(records()), backend.db);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const [row] = await backend.query<{ n: number }>('SELECT count(*)::int AS n FROM named');
    assert.equal(row.n, 40);
  });
});
