/**
 * Arrow (and Parquet) that other implementations write and read: polars (Rust, through nodejs-polars)
 * opens every `.arrow` file the tools write, and polars-written Arrow (Struct, Int64, LargeList, Utf8View)
 * through ct-prepare, ct-embed and ct-load gives the same records and the same table as the NDJSON path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pl from 'nodejs-polars';
import pg from 'pg';
import { loadStudies, withCtgovMock } from './mocks/ctgov-mock.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tmp = mkdtempSync(join(tmpdir(), 'ct-foreign-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const sample = join(root, 'test/fixtures/studies-sample.ndjson');

/** Run a compiled tool; fail the test on a non-zero exit. Returns stdout as bytes. */
function tool(name: string, args: string[], input?: Buffer): Buffer {
  const env = { PATH: process.env.PATH, TZ: 'UTC', HOME: tmp, DATABASE_URL };
  const r = spawnSync(process.execPath, [join(root, 'bin', name), ...args], { env, input, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const lines = (b: Buffer | string): Record<string, unknown>[] =>
  String(b).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

test('every .arrow file the tools write is an Arrow file polars reads; .arrows files and stdout are streams', () => {
  const file = join(tmp, 'p.arrow');
  const stream = join(tmp, 'p.arrows');
  const out = tool('ct-prepare', [sample, '--format', 'arrow', '-o', file, '--tee', stream, '-q']);
  assert.equal(out.length, 0);
  assert.equal(readFileSync(file).subarray(0, 6).toString(), 'ARROW1');
  assert.equal(readFileSync(file).subarray(-6).toString(), 'ARROW1', 'the footer and closing magic');
  assert.equal(readFileSync(stream).readUInt32LE(0), 0xffffffff);
  const viaNdjson = lines(tool('ct-prepare', [sample, '-q']));
  const df = pl.readIPC(readFileSync(file));
  assert.equal(df.height, viaNdjson.length);
  assert.deepEqual(df.getColumn('nct_id').toArray(), viaNdjson.map((r) => r.nct_id));
  assert.deepEqual(df.getColumn('enrollment').toArray(), viaNdjson.map((r) => r.enrollment));
  assert.deepEqual(df.getColumn('phases').toArray(), viaNdjson.map((r) => r.phases));
  assert.deepEqual(
    df.getColumn('raw').toArray().map((s) => JSON.parse(s as string)),
    viaNdjson.map((r) => r.raw),
    'nested values are JSON text other readers can parse',
  );
  assert.equal(pl.readIPCStream(readFileSync(stream)).height, viaNdjson.length);
  // stdout: the stream format, also for ct-embed with its vectors
  const piped = tool('ct-embed', ['--provider', 'hash', '--dimensions', '8', '--no-cache', '--format', 'arrow', '-q', file]);
  assert.equal(piped.readUInt32LE(0), 0xffffffff);
  const emb = pl.readIPCStream(piped);
  assert.equal(emb.getColumn('embedding').toArray().length, viaNdjson.length);
  assert.equal((emb.getColumn('embedding').toArray()[0] as unknown as unknown[]).length, 8);
});

test('polars-written raw studies (Struct, Bool, LargeList, Utf8View) give ct-prepare the same records as NDJSON', () => {
  const raw = pl.readJSON(readFileSync(sample), { format: 'lines' });
  assert.match(String(raw.dtypes[0]), /Struct/);
  const file = join(tmp, 'polars_raw.arrow');
  writeFileSync(file, raw.writeIPC());
  assert.deepEqual(lines(tool('ct-prepare', [file, '-q'])), lines(tool('ct-prepare', [sample, '-q'])));
});

test('polars-written prepared records (Int64, Struct raw) through ct-embed and ct-load: same records, same table', async () => {
  const prepared = tool('ct-prepare', [sample, '-q']);
  const df = pl.readJSON(prepared, { format: 'lines' });
  const types = Object.fromEntries(df.columns.map((c, i) => [c, String(df.dtypes[i])]));
  assert.match(types.enrollment, /Int64/);
  assert.match(types.raw, /Struct/);
  assert.match(types.phases, /List/);
  const file = join(tmp, 'polars_prepared.arrow');
  writeFileSync(file, df.writeIPC());
  const embedArgs = ['--provider', 'hash', '--dimensions', '16', '--no-cache', '-q'];
  const fromPolars = tool('ct-embed', [file, ...embedArgs]);
  const fromNdjson = tool('ct-embed', [...embedArgs], prepared);
  assert.deepEqual(lines(fromPolars), lines(fromNdjson));

  // polars writes the embedded records (vectors as LargeList<Float64>) and ct-load takes them
  const embedded = pl.readJSON(fromNdjson, { format: 'lines' });
  const embFile = join(tmp, 'polars_embedded.arrow');
  writeFileSync(embFile, embedded.writeIPC());
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS foreign_a, foreign_b');
    tool('ct-load', [embFile, '--table', 'foreign_a', '--create-table', '-q']);
    tool('ct-load', ['--table', 'foreign_b', '--create-table', '-q'], fromNdjson);
    const shape = async (t: string) =>
      (await client.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`, [t])).rows;
    assert.deepEqual(await shape('foreign_a'), await shape('foreign_b'), 'the same columns and types (polars orders columns its own way)');
    // The row digests differ: raw from polars' Struct is other JSON text for the same jsonb value.
    const rows = async (t: string) => (await client.query(`SELECT * FROM ${t} ORDER BY nct_id`)).rows.map(({ loaded_at: _, row_digest: __, ...r }) => r);
    const a = await rows('foreign_a');
    assert.equal(a.length, 40);
    assert.deepEqual(a, await rows('foreign_b'));
    const { rows: kinds } = await client.query(`SELECT DISTINCT jsonb_typeof(raw) AS t FROM foreign_a`);
    assert.deepEqual(kinds, [{ t: 'object' }]);
  } finally {
    await client.query('DROP TABLE IF EXISTS foreign_a, foreign_b');
    await client.end();
  }
});

test('Parquet: zstd row groups polars reads as the NDJSON records; the tools read it from a file and a pipe', async () => {
  const file = join(tmp, 'p.parquet');
  tool('ct-prepare', [sample, '--format', 'parquet', '-o', file, '-q']);
  const bytes = readFileSync(file);
  assert.equal(bytes.subarray(0, 4).toString(), 'PAR1');
  assert.equal(bytes.subarray(-4).toString(), 'PAR1');
  const pw = await import('parquet-wasm/node');
  const meta = (await pw.ParquetFile.fromFile(new Blob([bytes]))).metadata();
  assert.equal(meta.rowGroup(0).column(0).compression(), pw.Compression.ZSTD);
  const viaNdjson = lines(tool('ct-prepare', [sample, '-q']));
  const df = pl.readParquet(bytes);
  assert.deepEqual(df.getColumn('nct_id').toArray(), viaNdjson.map((r) => r.nct_id));
  assert.deepEqual(df.getColumn('enrollment').toArray(), viaNdjson.map((r) => r.enrollment));
  assert.deepEqual(df.getColumn('raw').toArray().map((s) => JSON.parse(s as string)), viaNdjson.map((r) => r.raw));
  const embedArgs = ['--provider', 'hash', '--dimensions', '8', '--no-cache', '-q'];
  const expected = lines(tool('ct-embed', embedArgs, Buffer.from(viaNdjson.map((r) => JSON.stringify(r)).join('\n'))));
  assert.deepEqual(lines(tool('ct-embed', [file, ...embedArgs])), expected, 'from a file');
  assert.deepEqual(lines(tool('ct-embed', embedArgs, bytes)), expected, 'from a pipe');
  // and the embedded Parquet round trip: vectors and all
  const emb = join(tmp, 'e.parquet');
  tool('ct-embed', [file, ...embedArgs, '--format', 'parquet', '--tee', emb]);
  assert.deepEqual(lines(tool('ct-embed', [emb, ...embedArgs])), expected);
});

/** `make load` with the mock API, the hash provider and the test database (asynchronous: the mock lives here). */
function makeLoad(vars: string[]): Promise<{ status: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmp, TZ: 'UTC' };
  return new Promise((resolve) => {
    const child = spawn('make', ['--no-print-directory', '-C', root, 'load', 'BUILD_STAMP=', 'START_YEAR=', 'EMBED_PROVIDER=hash',
      `DATABASE_URL=${DATABASE_URL}`, 'LOAD_FLAGS=-q', ...vars], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

test('make load FORMAT=parquet: Parquet checkpoints polars opens, equal to the NDJSON ones, and the same table', async () => {
  await withCtgovMock({ studies: loadStudies(sample) }, async (m) => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const runs: Record<string, string> = { parquet: join(tmp, 'ck-parquet'), ndjson: join(tmp, 'ck-ndjson') };
      for (const [format, ck] of Object.entries(runs)) {
        const r = await makeLoad([`FORMAT=${format}`, `CHECKPOINT_DIR=${ck}`, `CT_API_URL=${m.url}`, `TABLE=make_${format}`, `EMBED_FLAGS=--dimensions 8 --cache ${join(ck, 'cache')}`]);
        assert.equal(r.status, 0, r.stderr);
      }
      for (const step of ['prepare', 'embed']) {
        const fromParquet = pl.readParquet(readFileSync(join(runs.parquet, `${step}.parquet`)));
        const fromNdjson = lines(readFileSync(join(runs.ndjson, `${step}.ndjson`)));
        assert.equal(fromParquet.height, fromNdjson.length);
        assert.deepEqual(fromParquet.getColumn('nct_id').toArray(), fromNdjson.map((r) => r.nct_id));
        assert.deepEqual(fromParquet.getColumn('content_hash').toArray(), fromNdjson.map((r) => r.content_hash));
        // and through our reader, every field equal
        assert.deepEqual(lines(tool('ct-embed', [join(runs.parquet, `${step}.parquet`), '--provider', 'hash', '--dimensions', '8', '--no-cache', '-q'])),
          lines(tool('ct-embed', [join(runs.ndjson, `${step}.ndjson`), '--provider', 'hash', '--dimensions', '8', '--no-cache', '-q'])));
      }
      const fetched = pl.readIPC(readFileSync(join(runs.parquet, 'fetch.arrow')));
      assert.equal(fetched.height, 40, 'the resumable fetch checkpoint is an Arrow file polars reads');
      assert.ok(fetched.columns.includes('protocolSection'));
      const rows = async (t: string) => (await client.query(`SELECT * FROM ${t} ORDER BY nct_id`)).rows.map(({ loaded_at: _, ...r }) => r);
      assert.deepEqual(await rows('make_parquet'), await rows('make_ndjson'));
    } finally {
      await client.query('DROP TABLE IF EXISTS make_parquet, make_ndjson');
      await client.end();
    }
  });
});
