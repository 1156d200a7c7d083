#!/usr/bin/env node
// Registry-scale benchmark (not a test): the local ClinicalTrials.gov mock serves N replicated real studies
// (test/fixtures/studies.ndjson with new NCT ids and dates shifted by one day per copy), and every step runs
// as `make load` runs it, each next to a bare reference measured in the same run:
//   ct-fetch --rate 1000            vs a bare page loop (fetch, JSON.parse, JSON.stringify each study)
//   ct-prepare (--dedupe latest / first) vs a bare JSON.parse + JSON.stringify loop over the fetched file
//   ct-embed --provider hash, and against the local OpenAI mock (first run, every text cached, Arrow output)
//     vs the bare loop over the prepared file
//   ct-load from NDJSON / from Arrow (also with --jobs 1), unchanged rerun, --no-embeddings vs psql \copy (FORMAT binary) of the same rows
// plus --index hnsw (HNSW + GIN full-text), pipe mode (ct-fetch | ct-prepare | ct-load as `make load PIPE=1`
// runs it), the start of a new and an existing PGlite database, ct-search
// one-shot timings (plain and --hybrid), and the extrapolation to the whole registry.
// Prints a table: time, records/s, ratio to the reference, peak RSS (/usr/bin/time -v).
//
// Usage: node bench/scale.mjs [--n 10000] [--keep]   (make bench-scale N=10000)
//   DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test): uses tables bench_scale_* of its own and
//   drops them at the end; the files live in a temporary directory removed at the end (--keep leaves both).
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { arg, sameCompression, timed, writeReplicatedStudies } from './timed.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(arg('n', 10_000));
const REGISTRY = 581_000;
const URL_ = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'ct-scale-'));
const f = (name) => join(dir, name);
const log = (m) => process.stderr.write(`bench-scale: ${m}\n`);
const bin = (tool) => join(root, 'bin', tool);
const keepFiles = process.argv.includes('--keep');
/** Remove work files no later step reads (at N = 100,000 they would take 40 GB together), unless --keep. */
const drop = (...names) => {
  if (!keepFiles) for (const n of names) rmSync(f(n), { force: true });
};
const node = process.execPath;
const T = { a: 'bench_scale_ndjson', b: 'bench_scale_arrow', j: 'bench_scale_jobs1', c: 'bench_scale_noemb', p: 'bench_scale_pipe', ref: 'bench_scale_psql' };
const dbEnv = { DATABASE_URL: URL_ };
const PIPE_STEP = 'pipe mode: ct-fetch (1 request/s) → ct-prepare → ct-load --no-embeddings';
const q = (x) => `'${String(x).replace(/'/g, `'\\''`)}'`;

// --- the replicated studies -------------------------------------------------------------------------------
const realStudies = await writeReplicatedStudies(join(root, 'test/fixtures/studies.ndjson'), f('studies.ndjson'), N, { shift: true });

// --- the bare references (one process each, so their RSS is measured the same way) --------------------------
const BARE_PAGES = `
const [base, outFile] = process.argv.slice(1);
const out = require('fs').openSync(outFile, 'w');
let token, n = 0;
do {
  const u = new URL(base + '/studies'); u.searchParams.set('pageSize', '1000');
  if (token) u.searchParams.set('pageToken', token);
  const page = JSON.parse(await (await fetch(u)).text());
  let s = '';
  for (const st of page.studies) { s += JSON.stringify(st) + '\\n'; n++; }
  require('fs').writeSync(out, s);
  token = page.nextPageToken;
} while (token);
`;
const BARE_LINES = `
const [inFile, outFile] = process.argv.slice(1);
const fs = require('fs');
const out = fs.openSync(outFile, 'w');
const rl = require('readline').createInterface({ input: fs.createReadStream(inFile), crlfDelay: Infinity });
let s = '';
for await (const line of rl) { if (!line) continue; s += JSON.stringify(JSON.parse(line)) + '\\n'; if (s.length > 1 << 20) { fs.writeSync(out, s); s = ''; } }
fs.writeSync(out, s);
`;
const bare = (code, ...args) => timed(node, ['--input-type=commonjs', '-e', `(async () => {${code}})()`, ...args]);

// --- the steps ----------------------------------------------------------------------------------------------
const rows = [];
function row(step, r, records, ref) {
  rows.push({ step, seconds: r.seconds, rate: records / r.seconds, ratio: ref ? ref.seconds / r.seconds : undefined, rssMB: r.rssMB });
  log(`${step}: ${r.seconds.toFixed(1)} s, ${r.rssMB?.toFixed(0) ?? '?'} MB`);
  return r;
}
const client = new pg.Client({ connectionString: URL_ });
await client.connect();
const mock = spawn(node, [join(root, 'dist/test/mocks/ctgov-mock.js'), '--data', f('studies.ndjson'), '--port', '0', '--port-file', f('port')], { stdio: ['ignore', 'ignore', 'inherit'] });
let search = {};
let pglite = {};
let openai;
let embedEnv = {};
try {
  for (let i = 0; i < 600 && !existsSync(f('port')); i++) await new Promise((r) => setTimeout(r, 100));
  const apiUrl = `http://127.0.0.1:${readFileSync(f('port'), 'utf8').trim()}/api/v2`;
  log(`${N} studies served at ${apiUrl}; files in ${dir}`);

  const refFetch = row('bare page loop (fetch, parse, stringify)', await bare(BARE_PAGES, apiUrl, f('bare-fetch.ndjson')), N);
  drop('bare-fetch.ndjson');
  row('ct-fetch --rate 1000', await timed(node, [bin('ct-fetch'), '--base-url', apiUrl, '--rate', '1000', '--tee', f('fetch.ndjson')]), N, refFetch);

  const refFetched = row('bare parse+stringify loop (fetched file)', await bare(BARE_LINES, f('fetch.ndjson'), f('bare-prepare.ndjson')), N);
  drop('bare-prepare.ndjson');
  row('ct-prepare (--dedupe latest)', await timed(node, [bin('ct-prepare'), f('fetch.ndjson'), '-o', f('prepare.ndjson')]), N, refFetched);
  row('ct-prepare --dedupe first', await timed(node, [bin('ct-prepare'), f('fetch.ndjson'), '--dedupe', 'first', '-o', f('prepare-first.ndjson')]), N, refFetched);

  drop('fetch.ndjson', 'prepare-first.ndjson');
  const refPrepared = row('bare parse+stringify loop (prepared file)', await bare(BARE_LINES, f('prepare.ndjson'), f('bare-embed.ndjson')), N);
  drop('bare-embed.ndjson');
  // The hash provider computes every vector (it has no cache); the cached runs go to the local OpenAI mock,
  // whose first run fills the cache (the mock's URL, a new port each time, is part of the cache key).
  row('ct-embed --provider hash (computes every vector)', await timed(node, [bin('ct-embed'), f('prepare.ndjson'), '--provider', 'hash', '-o', f('embed-hash.ndjson')]), N, refPrepared);
  drop('embed-hash.ndjson');
  const { startOpenAIMock } = await import(join(root, 'dist/test/mocks/openai-mock.js'));
  openai = await startOpenAIMock();
  embedEnv = { OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: null, HOME: dir, XDG_CACHE_HOME: null };
  const embed = (out, ...more) => timed(node, [bin('ct-embed'), f('prepare.ndjson'), '--cache', f('embed-cache'), '-o', out, ...more], { env: embedEnv });
  row('ct-embed (local OpenAI mock), first run', await embed(f('embed-first.ndjson')), N, refPrepared);
  drop('embed-first.ndjson');
  openai.resetStats();
  row('ct-embed, every text cached', await embed(f('embed.ndjson')), N, refPrepared);
  row('ct-embed, every text cached, Arrow out', await embed(f('embed.arrow'), '--format', 'arrow'), N, refPrepared);
  if (openai.stats.requests) throw new Error(`the cached runs sent ${openai.stats.requests} requests`);

  // The reference: psql \copy (FORMAT binary) of the same rows, encoded by ct-load's own encoder.
  const load = (input, table, ...more) => timed(node, [bin('ct-load'), input, '--table', table, '--create-table', '-q', ...more], { env: dbEnv });
  for (const t of Object.values(T)) await client.query(`DROP TABLE IF EXISTS ${t}`);
  await settle();
  const nd = row('ct-load from NDJSON', await load(f('embed.ndjson'), T.a), N);
  await settle();
  const ar = row('ct-load from Arrow', await load(f('embed.arrow'), T.b), N);
  await client.query(`DROP TABLE IF EXISTS ${T.j}`);
  await settle();
  const ar1 = row('ct-load from Arrow --jobs 1 (one connection, as psql)', await load(f('embed.arrow'), T.j, '--jobs', '1'), N);
  await client.query(`DROP TABLE IF EXISTS ${T.j}`);
  const refCopy = await psqlCopyReference(T.b, T.ref, f('embed.ndjson'), f('rows.pgcopy'));
  await settle();
  const refRow = row('psql \\copy (FORMAT binary), same rows', refCopy, N);
  drop('rows.pgcopy');
  rows.find((r) => r.step === 'ct-load from NDJSON').ratio = refRow.seconds / nd.seconds;
  rows.find((r) => r.step === 'ct-load from Arrow').ratio = refRow.seconds / ar.seconds;
  rows.find((r) => r.step.startsWith('ct-load from Arrow --jobs 1')).ratio = refRow.seconds / ar1.seconds;
  const rerun = row('ct-load from Arrow, unchanged rerun', await load(f('embed.arrow'), T.b), N);
  rows.at(-1).ratio = undefined;
  rows.at(-1).note = `${(rerun.seconds / ar.seconds).toFixed(2)}× the first load's time`;
  row('ct-load --no-embeddings (prepared file)', await load(f('prepare.ndjson'), T.c, '--no-embeddings'), N);
  row('ct-load --index hnsw (index build, rows unchanged)', await load(f('embed.arrow'), T.b, '--index', 'hnsw'), N);
  // Pipe mode as `make load PIPE=1 NO_EMBEDDINGS=1` runs it, with the fetch at its polite default of 1 request
  // (1,000 studies) a second: the pipeline keeps up when it takes little more than N / 1,000 seconds.
  // Peak RSS: the largest stage.
  await settle();
  const pipeline = `set -o pipefail; ${q(node)} ${q(bin('ct-fetch'))} --base-url ${q(apiUrl)} -q --tee ${q(f('pipe-fetch.ndjson'))}` +
    ` | ${q(node)} ${q(bin('ct-prepare'))} --dedupe none -q --tee ${q(f('pipe-prepare.ndjson'))}` +
    ` | ${q(node)} ${q(bin('ct-load'))} --table ${T.p} --create-table --no-embeddings -q`;
  row(PIPE_STEP, await timed('bash', ['-c', pipeline], { env: dbEnv }), N);
  drop('pipe-fetch.ndjson', 'pipe-prepare.ndjson');

  // ct-search one-shot, process start included: the median of 3.
  const oneShot = async (...more) => {
    const t = [];
    for (let i = 0; i < 3; i++) t.push((await timed(node, [bin('ct-search'), 'metastatic breast cancer immunotherapy', '--table', T.b, '--format', 'ndjson', ...more], { env: { ...dbEnv, ...embedEnv } })).seconds);
    return t.sort((x, y) => x - y)[1];
  };
  search = { plain: await oneShot(), hybrid: await oneShot('--hybrid') };

  // PGlite: a new database (a copy of the template, see README) and an existing one, 50 records.
  const small = f('small.ndjson');
  const first50 = [];
  const lines = createInterface({ input: createReadStream(f('prepare.ndjson')), crlfDelay: Infinity });
  for await (const line of lines) if (line && first50.push(line) === 50) break;
  lines.close();
  writeFileSync(small, first50.join('\n') + '\n');
  const pgl = (t) => timed(node, [bin('ct-load'), small, '--pglite-dir', f('pglite'), '--create-table', '--no-embeddings', '-q'], { env: { DATABASE_URL: null, PGHOST: null, PGDATABASE: null, PGPORT: null, PGUSER: null } }).then((r) => (pglite[t] = r));
  await pgl('fresh');
  await pgl('existing');

  // --- the table ----------------------------------------------------------------------------------------
  const fx = (x, d = 1) => x.toFixed(d);
  const out = [];
  out.push(`bench-scale: ${N.toLocaleString('en-US')} studies (${realStudies} real ones replicated), PostgreSQL ${(await client.query('SHOW server_version')).rows[0].server_version}, ${new Date().toISOString().slice(0, 16)}Z`);
  out.push('');
  out.push('| step | time | records/s | ratio to reference | peak RSS |');
  out.push('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    out.push(`| ${r.step} | ${fx(r.seconds)} s | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.ratio !== undefined ? fx(r.ratio, 2) + '×' : r.note ?? ''} | ${r.rssMB !== undefined ? Math.round(r.rssMB) + ' MB' : 'n/a'} |`);
  }
  out.push(`| PGlite, new database (50 rows) | ${fx(pglite.fresh.seconds)} s | | | ${Math.round(pglite.fresh.rssMB ?? 0)} MB |`);
  out.push(`| PGlite, existing database (50 rows) | ${fx(pglite.existing.seconds)} s | | | ${Math.round(pglite.existing.rssMB ?? 0)} MB |`);
  out.push(`| ct-search one query (median of 3, process start included) | ${fx(search.plain, 2)} s | | | |`);
  out.push(`| ct-search --hybrid one query | ${fx(search.hybrid, 2)} s | | | |`);
  // Extrapolation: linear in the number of studies; fetch cannot beat 1 request (1,000 studies) a second.
  const scale = REGISTRY / N;
  const step = (name) => rows.find((r) => r.step === name).seconds * scale;
  const fetchS = Math.max(step('ct-fetch --rate 1000'), REGISTRY / 1000);
  const makeMode = fetchS + step('ct-prepare (--dedupe latest)') + step('ct-load --no-embeddings (prepared file)');
  const pipeMode = step(PIPE_STEP);
  out.push('');
  out.push(`Extrapolated to ${REGISTRY.toLocaleString('en-US')} studies without embeddings (linear; fetch at the polite 1 request/s ≥ ${fx(REGISTRY / 1000 / 60)} min):`);
  out.push(`- make mode (fetch, then prepare, then load --no-embeddings): ${fx(makeMode / 60)} min (fetch ${fx(fetchS / 60)}, prepare ${fx(step('ct-prepare (--dedupe latest)') / 60)}, load ${fx(step('ct-load --no-embeddings (prepared file)') / 60)})`);
  out.push(`- pipe mode (make load PIPE=1: ct-fetch at 1 request/s, ct-prepare and ct-load --no-embeddings as one pipeline, measured): ${fx(pipeMode / 60)} min`);
  console.log(out.join('\n'));
} finally {
  mock.kill('SIGTERM');
  await openai?.close();
  if (!keepFiles) {
    for (const t of Object.values(T)) await client.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  await client.end();
}

/**
 * Before a timed database step: the files the steps before wrote go to disk first (`sync`; 2–3 GB each at
 * N = 100,000, whose write-back otherwise competes with the server's WAL), and the server writes its dirty
 * pages (CHECKPOINT), so that no step pays for the one before it.
 */
async function settle() {
  execFileSync('sync');
  await client.query('CHECKPOINT');
}

/** Encode the rows of `input` as ct-load would for `like`'s columns, then time psql \copy into a copy of it. */
async function psqlCopyReference(like, table, input, binPath) {
  const { RowEncoder, COPY_HEADER, COPY_TRAILER } = await import(join(root, 'dist/src/load/copy-binary.js'));
  const { parseTableName, readTableColumns } = await import(join(root, 'dist/src/load/schema.js'));
  await client.query(`CREATE TABLE ${table} (LIKE ${like} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`);
  const db = { query: async (sql, params) => ({ rows: (await client.query(sql, params)).rows }) };
  const cols = (await readTableColumns(db, parseTableName(table))).filter((c) => c.name !== 'loaded_at');
  const names = cols.map((c) => c.name);
  const encoder = new RowEncoder(cols.map((c) => ({ name: c.name, type: c.type, dims: c.dims })));
  const out = createWriteStream(binPath);
  out.write(COPY_HEADER);
  for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
    if (!line) continue;
    const rec = JSON.parse(line);
    if (!out.write(encoder.encode(names.map((n) => rec[n] ?? null)))) await once(out, 'drain');
  }
  out.end(COPY_TRAILER);
  await once(out, 'finish');
  await settle();
  return timed('psql', [URL_, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy ${table} (${names.join(', ')}) FROM '${binPath}' (FORMAT binary)`], { env: await sameCompression(client) });
}
