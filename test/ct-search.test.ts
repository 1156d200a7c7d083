/**
 * ct-search against the real Postgres and against PGlite: filters, limit, NDJSON shape, the title → own
 * study check with the hash provider, refusals, and queries that look like SQL staying text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (t: string) => join(root, 'bin', t);
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const work = mkdtempSync(join(tmpdir(), 'ct-search-test-'));
const baseEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' } as NodeJS.ProcessEnv;
delete baseEnv.DATABASE_URL;
delete baseEnv.OPENAI_API_KEY;
delete baseEnv.OPENAI_BASE_URL;

interface Prepared { nct_id: string; title: string; status: string; phases: string[]; conditions: string[]; countries: string[]; start_date: string | null; study_type: string }
let embedded: string;
let prepared: Prepared[];

function run(tool: string, args: string[], env: NodeJS.ProcessEnv, input?: string) {
  return spawnSync(bin(tool), args, { env, input, encoding: 'utf8', maxBuffer: 1 << 28 });
}

before(() => {
  // The whole bundled sample, embedded offline with the hash provider.
  const raw = join(root, 'test', 'fixtures', 'studies.ndjson');
  const prep = join(work, 'prepared.ndjson');
  embedded = join(work, 'embedded.ndjson');
  execFileSync(bin('ct-prepare'), [raw, '-q', '--no-raw', '-o', prep], { env: baseEnv });
  execFileSync(bin('ct-embed'), [prep, '-q', '--provider', 'hash', '--no-cache', '-o', embedded], { env: baseEnv });
  prepared = readFileSync(prep, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
});
after(() => rmSync(work, { recursive: true, force: true }));

const backends = [
  { name: 'postgres', table: `search_test_${process.pid}`, env: () => ({ ...baseEnv, DATABASE_URL: PG_URL }) },
  { name: 'pglite', table: 'clinical_trials', env: () => baseEnv, args: () => ['--pglite-dir', join(work, 'pglite')] },
];

for (const b of backends) {
  describe(`ct-search on ${b.name}`, () => {
    const conn = () => [...(b.args?.() ?? []), '--table', b.table];
    const search = (args: string[], input?: string) => {
      const r = run('ct-search', [...args, ...conn(), '--format', 'ndjson'], b.env(), input);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    };

    before(() => {
      const r = run('ct-load', [embedded, '-q', '--create-table', '--index', 'hnsw', ...conn()], b.env());
      assert.equal(r.status, 0, r.stderr);
    });
    after(async () => {
      if (b.name !== 'postgres') return;
      const c = new pg.Client(PG_URL);
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS "${b.table}"`);
      await c.end();
    });

    test('the title of a loaded study finds that study first for ≥ 95% of the sample', () => {
      const titles = prepared.map((p) => p.title);
      const hits = search(['-n', '1'], titles.join('\n') + '\n');
      assert.equal(hits.length, prepared.length);
      const ok = hits.filter((h, i) => h.nct_id === prepared[i].nct_id).length;
      const rate = ok / prepared.length;
      assert.ok(rate >= 0.95, `hit rate ${(rate * 100).toFixed(1)}% (${ok}/${prepared.length})`);
    });

    test('NDJSON shape: query, rank, score and the stored fields, never raw or the vector; --limit', () => {
      const hits = search(['lung cancer', '--limit', '7']);
      assert.equal(hits.length, 7);
      assert.deepEqual(hits.map((h) => h.rank), [1, 2, 3, 4, 5, 6, 7]);
      for (const h of hits) {
        assert.equal(h.query, 'lung cancer');
        assert.equal(typeof h.score, 'number');
        assert.ok(!('raw' in h) && !('embedding' in h));
        assert.ok(typeof h.nct_id === 'string' && typeof h.title === 'string' && Array.isArray(h.phases));
      }
      const scores = hits.map((h) => h.score);
      assert.deepEqual(scores, [...scores].sort((x, y) => y - x));
    });

    test('filters are exact: every hit satisfies them, and all qualifying studies can be found', () => {
      const want = prepared.filter(
        (p) => p.status === 'RECRUITING' && p.phases.includes('PHASE2') && p.conditions.some((c) => /nsclc/i.test(c)) && (p.start_date ?? '') >= '2020',
      );
      assert.ok(want.length >= 3, 'fixture has qualifying studies');
      const hits = search(['cancer', '--status', 'recruiting', '--phase', '2', '--condition', 'NscLC', '--start-year', '2020', '-n', '1000']);
      assert.deepEqual(hits.map((h) => h.nct_id).sort(), want.map((p) => p.nct_id).sort());
      const inChina = prepared.filter((p) => p.countries.includes('China') && p.study_type === 'OBSERVATIONAL');
      const hits2 = search(['study', '--country', 'china', '--study-type', 'observational', '-n', '1000']);
      assert.deepEqual(hits2.map((h) => h.nct_id).sort(), inChina.map((p) => p.nct_id).sort());
    });

    test('--hybrid ranks a study naming the drug exactly at the top', () => {
      const target = prepared.find((p) => /osimertinib/i.test(p.title))!;
      assert.ok(target);
      const hits = search(['osimertinib', '--hybrid', '-n', '5']);
      assert.ok(hits.length > 0);
      assert.match(hits[0].title, /osimertinib/i);
    });

    test('a query with quotes and SQL keywords is only text', () => {
      const evil = `'); DROP TABLE ${b.table}; -- " OR 1=1`;
      const hits = search([evil, '-n', '3', '--condition', "%' OR '1'='1", '--hybrid']);
      assert.equal(hits.length, 0); // the condition filter matches nothing literally
      const again = search(['lung', '-n', '1']);
      assert.equal(again.length, 1, 'table still there');
    });
  });
}

test('ct-search refuses clearly: unknown model, OpenAI model without a key, missing table', async () => {
  const table = `search_refuse_${process.pid}`;
  const c = new pg.Client(PG_URL);
  await c.connect();
  try {
    await c.query(`CREATE TABLE "${table}" (nct_id text primary key, title text, embedding vector(3), embedding_model text)`);
    await c.query(`INSERT INTO "${table}" VALUES ('X1', 't', '[1,0,0]', 'acme/secret-model@3')`);
    const env = { ...baseEnv, DATABASE_URL: PG_URL };
    let r = run('ct-search', ['anything', '--table', table], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ct-search: the table was embedded with acme\/secret-model@3: ct-search cannot make "acme" vectors\n$/);
    await c.query(`UPDATE "${table}" SET embedding_model = 'openai/text-embedding-3-small@3'`);
    r = run('ct-search', ['anything', '--table', table], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /set OPENAI_API_KEY \(or OPENAI_BASE_URL/);
    r = run('ct-search', ['anything', '--table', `${table}_missing`], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /does not exist/);
  } finally {
    await c.query(`DROP TABLE IF EXISTS "${table}"`);
    await c.end();
  }
});

test('ct-search refuses a table that mixes models or has vectors without a model, with or without the model index', async () => {
  const table = `search_mixed_${process.pid}`;
  const c = new pg.Client(PG_URL);
  await c.connect();
  const env = { ...baseEnv, DATABASE_URL: PG_URL };
  const refusal = () => {
    const r = run('ct-search', ['anything', '--table', table], env);
    assert.equal(r.status, 1, r.stdout);
    return r.stderr;
  };
  try {
    await c.query(`CREATE TABLE "${table}" (nct_id text primary key, text text, embedding vector(3), embedding_model text)`);
    await c.query(`INSERT INTO "${table}" SELECT 'N' || i, 't', NULL, NULL FROM generate_series(1, 50) i`);
    for (const indexed of [false, true]) {
      if (indexed) await c.query(`CREATE INDEX ON "${table}" (embedding_model) WHERE embedding IS NOT NULL`);
      await c.query(`UPDATE "${table}" SET embedding = NULL, embedding_model = NULL`);
      assert.match(refusal(), /holds no embeddings/);
      await c.query(`UPDATE "${table}" SET embedding = '[1,0,0]', embedding_model = 'hash/fh-v2@3'`);
      assert.equal(run('ct-search', ['anything', '--table', table, '--format', 'ndjson'], env).status, 0);
      await c.query(`UPDATE "${table}" SET embedding_model = 'hash/fh-v2@4' WHERE nct_id = 'N17'`);
      assert.match(refusal(), /^ct-search: table \S+ mixes embedding models \(hash\/fh-v2@3, hash\/fh-v2@4\); cannot compare vectors\n$/);
      await c.query(`UPDATE "${table}" SET embedding_model = NULL WHERE nct_id = 'N17'`);
      assert.match(refusal(), /mixes embedding models \(hash\/fh-v2@3, rows without embedding_model\)/);
      await c.query(`UPDATE "${table}" SET embedding_model = NULL`);
      assert.match(refusal(), /does not record its embedding_model/);
      // A row without a vector does not count, whatever its model.
      await c.query(`UPDATE "${table}" SET embedding_model = 'hash/fh-v2@3'`);
      await c.query(`UPDATE "${table}" SET embedding = NULL, embedding_model = 'other/x@3' WHERE nct_id = 'N3'`);
      assert.equal(run('ct-search', ['anything', '--table', table, '--format', 'ndjson'], env).status, 0);
    }
  } finally {
    await c.query(`DROP TABLE IF EXISTS "${table}"`);
    await c.end();
  }
});

