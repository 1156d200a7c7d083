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
