#!/usr/bin/env node
// ct-load benchmark (not a test): N synthetic prepared rows with D-dimensional vectors, derived from the
// sample studies with new ids, loaded three ways into fresh tables of the same schema, in one run:
//   1. bin/ct-load reading an Arrow file (what a fast pipeline feeds it; NDJSON parsing of 100k × 1536
//      floats alone takes ≈ 40 s: formatting and parsing that many floats dominates) — optionally also from NDJSON (--ndjson);
//   2. psql -c "\copy … FROM 'file' (FORMAT binary)" of the same rows, pre-encoded by ct-load's encoder;
//   3. a text-format COPY of the same rows (formatted in Node and streamed, as a text loader would).
// Prints rows/s of each, the ratios, and ct-load's peak RSS. Targets: ≥ 0.8× psql binary, ≥ 3× text, < 300 MB.
//
// Usage: node bench/load-bench.mjs [--rows 100000] [--dims 1536] [--raw] [--ndjson] [--keep]
//   DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Needs `npm run build` first.
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { arg, sameCompression, timed } from './timed.mjs';
import { from as copyFrom } from 'pg-copy-streams';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(join(root, 'dist', p));
const { prepareStudy } = await dist('src/prepare.js');
const { ArrowEncoder } = await dist('src/io/arrow.js');
const { RowEncoder, COPY_HEADER, COPY_TRAILER } = await dist('src/load/copy-binary.js');
const { columnsFromRecords, createTableSql, parseTableName, readTableColumns } = await dist('src/load/schema.js');

const flag = (name) => process.argv.includes(`--${name}`);
const ROWS = Number(arg('rows', 100_000));
const DIMS = Number(arg('dims', 1536));
const URL_ = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'ct-load-bench-'));
const log = (m) => process.stderr.write(`load-bench: ${m}\n`);

const studies = readFileSync(join(root, 'test/fixtures/studies-sample.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const base = studies.map((s) => prepareStudy(s, { raw: flag('raw') }));

/** Row i: a sample study with a new id and a deterministic float32 vector (xorshift). */
function record(i) {
  const r = { ...base[i % base.length], nct_id: `NCTB${String(i).padStart(8, '0')}` };
  let x = (i + 1) * 2654435761;
  const v = new Array(DIMS);
  for (let k = 0; k < DIMS; k++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    v[k] = Math.fround((x >>> 0) / 2 ** 32 - 0.5);
  }
  r.embedding = v;
  r.embedding_model = 'bench-model';
  return r;
}

async function writeFileFrom(path, chunks) {
  const out = createWriteStream(path);
  for (const c of chunks()) if (c && c.length && !out.write(c)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

// --- text COPY formatting (the slow path ct-load avoids) ---
const escText = (s) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
const arrText = (a) => '{' + a.map((x) => '"' + x.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"').join(',') + '}';
function textRow(cols, types, r) {
  return cols.map((c, i) => {
    const v = r[c];
    if (v === null || v === undefined) return '\\N';
    switch (types[i]) {
      case 'vector': return '[' + v.join(',') + ']';
      case 'text[]': return escText(arrText(v));
      case 'jsonb': return escText(JSON.stringify(v));
      case 'bool': return v ? 't' : 'f';
      default: return escText(String(v));
    }
  }).join('\t') + '\n';
}

const client = new pg.Client({ connectionString: URL_ });
await client.connect();
const tables = { ctload: 'ct_load_bench_ctload', psql: 'ct_load_bench_psql', text: 'ct_load_bench_text' };
try {
  // Schema: what ct-load --create-table makes for these records.
  const defs = columnsFromRecords([record(0)], { idField: 'nct_id', noEmbeddings: false });
  for (const t of Object.values(tables)) {
    await client.query(`DROP TABLE IF EXISTS ${t}`);
    await client.query(createTableSql(parseTableName(t), defs, 'nct_id'));
  }
  const db = { query: async (sql, params) => ({ rows: (await client.query(sql, params)).rows }) };
  const cols = (await readTableColumns(db, parseTableName(tables.psql))).filter((c) => c.name !== 'loaded_at');
  const names = cols.map((c) => c.name);
  const encoder = new RowEncoder(cols.map((c) => ({ name: c.name, type: c.type, dims: c.dims })));

  log(`generating ${ROWS} rows × ${DIMS} dims (${flag('raw') ? 'with' : 'without'} raw) in ${dir}`);
  const arrowPath = join(dir, 'rows.arrow');
  const binPath = join(dir, 'rows.pgcopy');
  const ndjsonPath = join(dir, 'rows.ndjson');
  await writeFileFrom(arrowPath, function* () {
    const enc = new ArrowEncoder();
    for (let i = 0; i < ROWS; i++) yield enc.push(record(i));
    yield enc.end();
  });
  await writeFileFrom(binPath, function* () {
    yield COPY_HEADER;
    for (let i = 0; i < ROWS; i++) yield encoder.encode(names.map((n) => record(i)[n]));
    yield COPY_TRAILER;
  });
  if (flag('ndjson')) {
    await writeFileFrom(ndjsonPath, function* () {
      for (let i = 0; i < ROWS; i++) yield Buffer.from(JSON.stringify(record(i)) + '\n');
    });
  }
  const mb = (p) => (statSync(p).size / 2 ** 20).toFixed(0);
  log(`inputs: Arrow ${mb(arrowPath)} MB, binary COPY ${mb(binPath)} MB`);
  await client.query('CHECKPOINT');

  const results = {};
  log('1/3 ct-load (Arrow input)');
  const ct = await timed(process.execPath, [join(root, 'bin/ct-load'), arrowPath, '--table', tables.ctload, '-q'], { env: { DATABASE_URL: URL_ } });
  results.ctload = { ...ct, rate: ROWS / ct.seconds };
  await client.query('CHECKPOINT');

  log('2/3 psql \\copy (FORMAT binary)');
  const ps = await timed('psql', [URL_, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy ${tables.psql} (${names.join(', ')}) FROM '${binPath}' (FORMAT binary)`], { env: await sameCompression(client) });
  results.psql = { ...ps, rate: ROWS / ps.seconds };
  await client.query('CHECKPOINT');

  log('3/3 text COPY (formatted in Node, streamed)');
  const types = cols.map((c) => c.type);
  const started = process.hrtime.bigint();
  const stream = client.query(copyFrom(`COPY ${tables.text} (${names.join(', ')}) FROM STDIN`));
  let buf = '';
  for (let i = 0; i < ROWS; i++) {
    buf += textRow(names, types, record(i));
    if (buf.length > 1 << 20) {
      if (!stream.write(buf)) await once(stream, 'drain');
      buf = '';
    }
  }
  stream.end(buf);
  await once(stream, 'finish');
  const textSecs = Number(process.hrtime.bigint() - started) / 1e9;
  results.text = { seconds: textSecs, rate: ROWS / textSecs };

  if (flag('ndjson')) {
    await client.query(`TRUNCATE ${tables.ctload}`);
    await client.query('CHECKPOINT');
    log('extra: ct-load (NDJSON input)');
    const nd = await timed(process.execPath, [join(root, 'bin/ct-load'), ndjsonPath, '--table', tables.ctload, '-q'], { env: { DATABASE_URL: URL_ } });
    results.ndjson = { ...nd, rate: ROWS / nd.seconds };
  }

  for (const t of Object.values(tables)) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${t}`);
    if (rows[0].n !== ROWS) throw new Error(`${t} has ${rows[0].n} rows, expected ${ROWS}`);
  }
  const f = (x) => Math.round(x).toLocaleString('en-US');
  const line = (name, r) => `${name.padEnd(34)} ${r.seconds.toFixed(1).padStart(6)} s ${f(r.rate).padStart(8)} rows/s`;
  console.log(`ct-load benchmark: ${ROWS} rows, vector(${DIMS}), raw ${flag('raw') ? 'included' : 'left out'}, PostgreSQL at ${URL_.replace(/:[^@/]*@/, ':***@')}`);
  console.log(line('ct-load (Arrow input)', results.ctload));
  console.log(line('psql \\copy (FORMAT binary)', results.psql));
  console.log(line('text COPY (Node-formatted)', results.text));
  if (results.ndjson) console.log(line('ct-load (NDJSON input)', results.ndjson));
  console.log(`ratio ct-load / psql binary: ${(results.ctload.rate / results.psql.rate).toFixed(2)}× (target ≥ 0.8)`);
  console.log(`ratio ct-load / text COPY:   ${(results.ctload.rate / results.text.rate).toFixed(2)}× (target ≥ 3)`);
  console.log(`ct-load peak RSS: ${results.ctload.rssMB?.toFixed(0) ?? 'n/a (no /usr/bin/time)'} MB (target < 300)` +
    (results.ndjson?.rssMB ? `; NDJSON run ${results.ndjson.rssMB.toFixed(0)} MB` : ''));
} finally {
  if (!flag('keep')) {
    for (const t of Object.values(tables)) await client.query(`DROP TABLE IF EXISTS ${t}`);
    rmSync(dir, { recursive: true, force: true });
  }
  await client.end();
}
