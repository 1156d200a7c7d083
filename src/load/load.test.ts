import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMaintenanceWorkMem, indexName } from './index.js';
import { approxBytes, BATCH_BYTES, batchBytesFor, isTransient, longVectorText, PGLITE_BATCH_BYTES } from './load.js';
import { float32Values } from '../io/f32json.js';
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

test('longVectorText: a parsing worker for vectors in the 17-digit spelling or of other doubles, not for the shortest float32 text', () => {
  const f32 = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i + 1) / 10);
  const wide = Array.from(f32); // 0.08414709568023682, …
  const short = float32Values(f32); // 0.084147096, …
  assert.equal(longVectorText([{ v: wide }], ['v']), true);
  assert.equal(longVectorText([{ v: wide.map((x) => x + 1e-12) }], ['v']), true, 'doubles');
  assert.equal(longVectorText([{ v: short }, { v: short }], ['v']), false);
  assert.equal(longVectorText([{ v: Array.from({ length: 100 }, () => 0.5) }], ['v']), false, 'exact and short at once');
  assert.equal(longVectorText([{ other: wide }, { v: null }], ['v']), false, 'no vector seen');
});
