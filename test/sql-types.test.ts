/**
 * The table as psql users see it: dates are `date` columns (month-only dates as the first of the month,
 * their precision in `<date>_precision`), every column has a COMMENT, and ct-search `--start-year` and
 * `ct-load --newest` use the types. Tables made before (text dates) keep loading, searching and skipping.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tmp = mkdtempSync(join(tmpdir(), 'ct-sqltypes-'));
const T = `sqltypes_${process.pid}`;
const OLD = `${T}_old`;
const client = new pg.Client({ connectionString: DATABASE_URL });

function tool(name: string, args: string[], input?: Buffer, extraEnv: Record<string, string> = {}): { stdout: string; stderr: string } {
  const env = { PATH: process.env.PATH, TZ: 'UTC', HOME: tmp, DATABASE_URL, ...extraEnv };
  const r = spawnSync(process.execPath, [join(root, 'bin', name), ...args], { env, input, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}

const prepared = () => tool('ct-prepare', [join(root, 'test/fixtures/studies.ndjson'), '-q']).stdout;
const records = () => prepared().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string | null>);
let embedded: Buffer;

before(async () => {
  await client.connect();
  await client.query(`DROP TABLE IF EXISTS ${T}, ${OLD}`);
  embedded = Buffer.from(tool('ct-embed', ['--provider', 'hash', '--dimensions', '64', '--no-cache', '-q'], Buffer.from(prepared())).stdout);
  tool('ct-load', ['--table', T, '--create-table', '-q'], embedded);
});
after(async () => {
  await client.query(`DROP TABLE IF EXISTS ${T}, ${OLD}`);
  await client.end();
  rmSync(tmp, { recursive: true, force: true });
});

test('dates are date columns; month-only dates are the first of the month and count right in comparisons', async () => {
  const { rows: types } = await client.query(
    `SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = $1 AND column_name LIKE '%date%' OR table_name = $1 AND column_name LIKE '%posted'`,
    [T],
  );
  const byName = Object.fromEntries(types.map((r) => [r.c, r.t]));
  for (const c of ['start_date', 'primary_completion_date', 'completion_date', 'first_posted', 'last_update_posted']) assert.equal(byName[c], 'date', c);
  for (const c of ['start_date_precision', 'primary_completion_date_precision', 'completion_date_precision']) assert.equal(byName[c], 'text', c);

  const recs = records();
  const monthOnly = recs.find((r) => /^\d{4}-\d{2}$/.test(r.start_date ?? ''));
  assert.ok(monthOnly, 'the sample has a month-only start date');
  const { rows } = await client.query(`SELECT to_char(start_date, 'YYYY-MM-DD') AS d, start_date_precision AS p FROM ${T} WHERE nct_id = $1`, [monthOnly.nct_id]);
  assert.deepEqual(rows[0], { d: `${monthOnly.start_date}-01`, p: 'month' });
  const since = '2020-01';
  const expected = recs.filter((r) => r.start_date !== null && r.start_date.slice(0, 7) >= since).length;
  const { rows: n } = await client.query(`SELECT count(*)::int AS n FROM ${T} WHERE start_date >= date '2020-01-01'`);
  assert.equal(n[0].n, expected);
  assert.ok(recs.filter((r) => /^20[2-9]\d-\d\d$/.test(r.start_date ?? '')).length > 10, 'month-only dates are among those counted');
});

test('every column of the created table has a comment (psql \\d+ shows them)', async () => {
  const { rows } = await client.query(
    `SELECT a.attname AS c, col_description(a.attrelid, a.attnum) AS d FROM pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [T],
  );
  assert.ok(rows.length > 30);
  for (const r of rows) assert.ok(r.d && r.d.length > 5, `comment on ${r.c}`);
  assert.match(rows.find((r) => r.c === 'start_date_precision')!.d, /day, month or year/);
});

test('--newest last_update_posted prints YYYY-MM-DD whatever the DateStyle; --start-year uses the date', async () => {
  const newest = records().map((r) => r.last_update_posted!).sort().at(-1);
  const out = tool('ct-load', ['--table', T, '--newest', 'last_update_posted'], undefined, { PGOPTIONS: '-c datestyle=SQL,DMY' }).stdout.trim();
  assert.equal(out, newest);
  const hits = tool('ct-search', ['surgery', '--table', T, '--start-year', '2020', '--limit', '50', '--format', 'ndjson']).stdout;
  const starts = hits.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { start_date: string }).start_date);
  assert.ok(starts.length > 0);
  for (const s of starts) assert.ok(s >= '2020-01-01', s);
  const expected = records().filter((r) => (r.start_date ?? '') >= '2020').length;
  assert.equal(starts.length, Math.min(50, expected));
});

test('a table made before (text dates, no precision columns) keeps loading, searching and skipping', async () => {
  // the layout an older ct-load created
  await client.query(`CREATE TABLE ${OLD} (LIKE ${T} INCLUDING ALL)`);
  await client.query(`ALTER TABLE ${OLD} DROP COLUMN start_date_precision, DROP COLUMN primary_completion_date_precision, DROP COLUMN completion_date_precision`);
  for (const c of ['start_date', 'primary_completion_date', 'completion_date', 'first_posted', 'last_update_posted']) {
    await client.query(`ALTER TABLE ${OLD} ALTER COLUMN ${c} TYPE text`);
  }
  const load = tool('ct-load', ['--table', OLD], embedded);
  assert.match(load.stderr, /keeps its dates as text \(start_date, primary_completion_date, completion_date; a table from an older ct-pipeline\)/);
  assert.match(load.stderr, /553 inserted/);
  const recs = records();
  const monthOnly = recs.find((r) => /^\d{4}-\d{2}$/.test(r.start_date ?? ''))!;
  const { rows } = await client.query(`SELECT start_date FROM ${OLD} WHERE nct_id = $1`, [monthOnly.nct_id]);
  assert.equal(rows[0].start_date, monthOnly.start_date, 'text as given');
  const again = tool('ct-load', ['--table', OLD, '-q'], embedded);
  assert.equal(again.stderr, '');
  const hits = tool('ct-search', ['surgery', '--table', OLD, '--start-year', '2020', '--limit', '50', '--format', 'ndjson']).stdout;
  assert.equal(hits.split('\n').filter(Boolean).length, Math.min(50, recs.filter((r) => (r.start_date ?? '') >= '2020').length));
  const skip = tool('ct-prepare', [join(root, 'test/fixtures/studies.ndjson'), '--skip-existing', '--table', OLD]);
  assert.equal(skip.stdout, '');
  assert.equal(tool('ct-load', ['--table', OLD, '--newest', 'last_update_posted']).stdout.trim(), recs.map((r) => r.last_update_posted!).sort().at(-1));
});
