import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSql, stageSql } from './merge.js';
import { parseTableName } from './schema.js';

const plan = { table: parseTableName('ct.trials'), columns: ['nct_id', 'status', 'embedding'], idField: 'nct_id', touchLoadedAt: true };

test('the merge updates only rows whose loaded columns differ, and counts inserts and updates', () => {
  const sql = mergeSql(plan);
  assert.match(sql, /INSERT INTO "ct"\."trials" AS t \("nct_id", "status", "embedding"\) SELECT "nct_id", "status", "embedding" FROM ct_load_stage/);
  assert.match(sql, /ON CONFLICT \("nct_id"\) DO UPDATE SET "status" = EXCLUDED\."status", "embedding" = EXCLUDED\."embedding", "loaded_at" = now\(\)/);
  assert.match(sql, /WHERE ROW\(t\."status", t\."embedding"\) IS DISTINCT FROM ROW\(EXCLUDED\."status", EXCLUDED\."embedding"\)/);
  assert.match(sql, /RETURNING \(xmax = 0\) AS inserted\) SELECT count\(\*\) FILTER \(WHERE inserted\)::int AS inserted/);
});

test('only the id loaded: nothing to update', () => {
  assert.match(mergeSql({ ...plan, columns: ['nct_id'] }), /ON CONFLICT \("nct_id"\) DO NOTHING/);
});

test('the staging table holds the loaded columns only, emptied at each commit', () => {
  assert.equal(
    stageSql(plan),
    'CREATE TEMP TABLE IF NOT EXISTS ct_load_stage ON COMMIT DELETE ROWS AS SELECT "nct_id", "status", "embedding" FROM "ct"."trials" WITH NO DATA',
  );
});

test('newer wins: the update skips older records and counts them; vectors kept for the same text', () => {
  const sql = mergeSql({
    ...plan,
    columns: ['nct_id', 'status', 'content_hash', 'embedding', 'embedding_model', 'last_update_posted'],
    version: { column: 'last_update_posted', collate: true },
    keepVectors: { hash: 'content_hash', vectors: ['embedding'], model: { column: 'embedding_model', vector: 'embedding' } },
  });
  const older = (x: string) =>
    `(t."last_update_posted" IS NOT NULL AND (${x}."last_update_posted" IS NULL OR ${x}."last_update_posted" COLLATE "C" < t."last_update_posted" COLLATE "C"))`;
  assert.ok(sql.includes(`AND NOT ${older('EXCLUDED')}`), sql);
  assert.ok(sql.includes(`WITH o AS (SELECT count(*)::int AS n FROM ct_load_stage s JOIN "ct"."trials" t ON t."nct_id" = s."nct_id" WHERE ${older('s')} AND ROW(`), sql);
  assert.ok(sql.includes('"embedding" = CASE WHEN EXCLUDED."embedding" IS NULL AND EXCLUDED."content_hash" IS NOT DISTINCT FROM t."content_hash" THEN t."embedding" ELSE EXCLUDED."embedding" END'), sql);
  assert.ok(sql.includes('"embedding_model" = CASE WHEN EXCLUDED."embedding" IS NULL AND EXCLUDED."content_hash" IS NOT DISTINCT FROM t."content_hash" THEN t."embedding_model" ELSE EXCLUDED."embedding_model" END'), sql);
  assert.match(sql, /\(SELECT n FROM o\) AS older, 0 AS refreshed FROM w$/);
});
