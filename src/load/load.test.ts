import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMaintenanceWorkMem, indexName } from './index.js';
import { approxBytes, BATCH_BYTES, batchBytesFor, isTransient, PGLITE_BATCH_BYTES } from './load.js';
import { RawJson } from '../io/rawjson.js';

test('transient errors: connection loss, admin shutdown, serialization failure, deadlock', () => {
  for (const code of ['57P01', '08006', '08003', '40001', '40P01', 'ECONNRESET', 'ECONNREFUSED']) assert.ok(isTransient({ code }), code);
  assert.ok(isTransient(new Error('Connection terminated unexpectedly')));
  for (const code of ['23505', '42P01', '22P02', undefined]) assert.ok(!isTransient({ code, message: 'x' }), String(code));
});

test('maintenance_work_mem fits the graph within bounds; index names fit 63 bytes', () => {
  assert.equal(defaultMaintenanceWorkMem(100, 8, false), '64MB');
  assert.equal(defaultMaintenanceWorkMem(50_000, 1536, false), '586MB');
  assert.equal(defaultMaintenanceWorkMem(1_000_000, 1536, false), '1024MB');
  assert.equal(defaultMaintenanceWorkMem(1_000_000, 1536, true), '512MB');
  assert.equal(indexName('t', 'embedding'), 't_embedding_hnsw');
  assert.equal(Buffer.byteLength(indexName('x'.repeat(80), 'embedding')), 63);
});

test('batch byte budget: no larger on PGlite than on a server', () => {
  assert.equal(batchBytesFor('postgres'), BATCH_BYTES);
  assert.equal(batchBytesFor('pglite'), PGLITE_BATCH_BYTES);
  assert.ok(PGLITE_BATCH_BYTES <= BATCH_BYTES);
});

test('approxBytes: the line length for NDJSON, else the fields (strings, JSON text, vectors)', () => {
  assert.equal(approxBytes({ where: 'x:1', line: 1, value: { a: 'y'.repeat(50) }, json: '{"a":"' + 'y'.repeat(50) + '"}' }), 58);
  const rec = { a: 'abc', raw: new RawJson('{"k":1}'), v: new Float32Array(4), l: [1, 2], n: 5 };
  assert.equal(approxBytes({ where: 'x:1', line: 1, value: rec }), 3 + 7 + 16 + 16 + 8);
  assert.equal(approxBytes({ where: 'x:1', line: 1, error: 'bad', text: 'zz' }), 0);
});
