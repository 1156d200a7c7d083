import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMaintenanceWorkMem, indexName } from './index.js';
import { isTransient } from './load.js';

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
