import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columnsFromRecords, commentSql, createTableSql, datePrecision, inferSqlType, parseTableName, quoteIdent } from './schema.js';

test('quoteIdent doubles quotes: any text stays one identifier', () => {
  assert.equal(quoteIdent('t'), '"t"');
  assert.equal(quoteIdent('a"; DROP TABLE x; --'), '"a""; DROP TABLE x; --"');
});

test('parseTableName: plain, schema-qualified, quoted parts, hostile names', () => {
  assert.deepEqual(parseTableName('trials'), { schema: undefined, name: 'trials', sql: '"trials"' });
  assert.deepEqual(parseTableName('ct.trials'), { schema: 'ct', name: 'trials', sql: '"ct"."trials"' });
  assert.deepEqual(parseTableName('"my.schema"."t""x"'), { schema: 'my.schema', name: 't"x', sql: '"my.schema"."t""x"' });
  assert.equal(parseTableName('Mixed').sql, '"Mixed"', 'no case folding');
  assert.equal(parseTableName('x"; drop table y;--').sql, '"x""; drop table y;--"');
  assert.throws(() => parseTableName('a.b.c'), /more than two parts/);
  assert.throws(() => parseTableName('a.'), /empty part/);
  assert.throws(() => parseTableName('"abc'), /unterminated quote/);
});

test('inferSqlType from first-batch values', () => {
  assert.equal(inferSqlType([]), 'text');
  assert.equal(inferSqlType(['a']), 'text');
  assert.equal(inferSqlType([1, 2]), 'integer');
  assert.equal(inferSqlType([2 ** 40]), 'bigint');
  assert.equal(inferSqlType([1.5, 2]), 'double precision');
  assert.equal(inferSqlType([true]), 'boolean');
  assert.equal(inferSqlType([['a'], []]), 'text[]');
  assert.equal(inferSqlType([[0.1, 0.2, 0.3]]), 'vector(3)');
  assert.equal(inferSqlType([{ a: 1 }]), 'jsonb');
  assert.equal(inferSqlType(['a', 1]), 'jsonb');
});

test('inferSqlType: malformed vectors among good ones never change the column type', () => {
  const good = (n: number) => Array.from({ length: n }, (_, i) => i / 10);
  // The embedding field: one good vector is enough, whatever the others hold.
  assert.equal(inferSqlType([[0.1, 'NaN', 0.3], good(3)], { vectorField: true }), 'vector(3)');
  assert.equal(inferSqlType(['NaN', good(4), { a: 1 }], { vectorField: true }), 'vector(4)');
  assert.equal(inferSqlType([good(3), good(5), good(5), [Infinity, 1, 2, 3, 4]], { vectorField: true }), 'vector(5)', 'the most common length');
  assert.equal(inferSqlType(['NaN', { a: 1 }], { vectorField: true }), 'jsonb', 'no vector at all');
  // Other fields: vectors in most records.
  assert.equal(inferSqlType([good(2), good(2), [1, 'a']]), 'vector(2)');
  assert.equal(inferSqlType([good(2), [1, 'a'], ['b', 2]]), 'jsonb');
  assert.equal(inferSqlType([new Float32Array(3), new Float32Array(3)]), 'vector(3)');
});

test('columnsFromRecords: prepared fields keep their types, --dimensions and --no-embeddings apply', () => {
  const rec = { nct_id: 'N1', phases: [], interventions: [], enrollment: null, has_results: false, start_date: '2020-01', embedding: [1, 2], embedding_model: 'm', extra: 1.5 };
  assert.deepEqual(columnsFromRecords([rec], { idField: 'nct_id', noEmbeddings: false }), [
    { name: 'nct_id', sqlType: 'text' },
    { name: 'phases', sqlType: 'text[]' },
    { name: 'interventions', sqlType: 'jsonb' },
    { name: 'enrollment', sqlType: 'integer' },
    { name: 'has_results', sqlType: 'boolean' },
    { name: 'start_date', sqlType: 'date' },
    { name: 'start_date_precision', sqlType: 'text' },
    { name: 'embedding', sqlType: 'vector(2)' },
    { name: 'embedding_model', sqlType: 'text' },
    { name: 'extra', sqlType: 'double precision' },
  ]);
  const noEmb = columnsFromRecords([rec], { idField: 'nct_id', noEmbeddings: true }).map((c) => c.name);
  assert.ok(!noEmb.includes('embedding') && !noEmb.includes('embedding_model'));
  const dims = columnsFromRecords([{ nct_id: 'N1' }], { idField: 'nct_id', noEmbeddings: false, dimensions: 4 });
  assert.deepEqual(dims.slice(1), [{ name: 'embedding', sqlType: 'vector(4)' }, { name: 'embedding_model', sqlType: 'text' }]);
  assert.throws(() => columnsFromRecords([rec], { idField: 'doi', noEmbeddings: false }), /no field "doi"/);
  const bad = [{ ...rec, embedding: [1, 'NaN'] }, rec, { ...rec, embedding: 'NaN' }];
  assert.deepEqual(columnsFromRecords(bad, { idField: 'nct_id', noEmbeddings: false }).find((c) => c.name === 'embedding'), { name: 'embedding', sqlType: 'vector(2)' });
});

test('createTableSql quotes every identifier and adds loaded_at, the row digest and the primary key', () => {
  const sql = createTableSql(parseTableName('s.t"x'), [{ name: 'id', sqlType: 'text' }, { name: 'v', sqlType: 'vector(3)' }], 'id');
  assert.equal(sql, 'CREATE TABLE "s"."t""x" (\n  "id" text NOT NULL,\n  "v" vector(3),\n  "loaded_at" timestamptz NOT NULL DEFAULT now(),\n  "row_digest" bytea,\n  PRIMARY KEY ("id")\n)');
});

test('datePrecision: year, month or day as given; comments quote and cover every column', () => {
  assert.deepEqual(['2007', '2007-06', '2007-06-15', null].map(datePrecision), ['year', 'month', 'day', null]);
  const sql = commentSql(parseTableName('t'), [{ name: 'start_date', sqlType: 'date' }, { name: "o'k", sqlType: 'text' }]);
  assert.equal(sql.length, 5, 'the table, each column, loaded_at and row_digest');
  assert.match(sql[1], /^COMMENT ON COLUMN "t"\."start_date" IS 'study start .*first of the month, see start_date_precision'$/);
  assert.equal(sql[2], `COMMENT ON COLUMN "t"."o'k" IS 'the records'' field o''k (type inferred by ct-load)'`);
});
