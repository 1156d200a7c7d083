import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, List, RecordBatch, RecordBatchReader, Utf8, vectorFromArray } from 'apache-arrow';
import { ArrowEncoder, batchToRecords, EXTRA_COLUMN, type Rec } from './arrow.js';

function roundTrip(records: Rec[], maxRows = 2): Rec[] {
  const enc = new ArrowEncoder(maxRows);
  const parts: Buffer[] = [];
  for (const r of records) {
    const b = enc.push(r);
    if (b) parts.push(b);
  }
  parts.push(enc.end());
  const out: Rec[] = [];
  for (const reader of RecordBatchReader.readAll(Buffer.concat(parts))) {
    for (const batch of reader) out.push(...batchToRecords(batch));
  }
  return out;
}

test('scalars, string lists, nested objects and float32 vectors come back equal', () => {
  const v = Array.from(new Float32Array([0.1, -0.25, 3]));
  const recs = [
    { id: 'a', n: 1, f: 1.5, ok: true, tags: ['x', 'y'], raw: { deep: [1, { k: 'v' }] }, emb: v, none: null },
    { id: 'b', n: -7, f: 2, ok: false, tags: [], raw: { deep: [] }, emb: v.map((x) => -x), none: null },
  ];
  assert.deepEqual(roundTrip(recs), recs);
});

test('fields appearing after the first batch, misfitting values and absent fields are carried, not dropped', () => {
  const recs: Rec[] = [
    { id: 'a', n: 1, s: 'x' },
    { id: 'b', n: 2, s: 'y' },
    { id: 'c', n: 2.5, s: 'z', late: { x: 1 } }, // n no longer int32, new field
    { id: 'd', s: 5 }, // n absent, s a number
    { id: 'e', n: 3, s: null, big: 2 ** 40 },
    { s: 'q', id: 'f', n: 4 }, // another key order
  ];
  assert.deepEqual(roundTrip(recs), recs);
});

test('vectors that are not exactly float32 keep full precision; length changes are carried', () => {
  const recs = [
    { id: 'a', v: [0.1, 0.2] },
    { id: 'b', v: [0.3, 0.4] },
    { id: 'c', v: [0.5, 0.6, 0.7] },
  ];
  assert.deepEqual(roundTrip(recs), recs);
});

test('the schema marks JSON columns and the extra column', () => {
  const enc = new ArrowEncoder(10);
  enc.push({ id: 'a', obj: { k: 1 } });
  const bytes = enc.end();
  const reader = RecordBatchReader.from(bytes);
  const batch = [...reader][0];
  const fields = Object.fromEntries(batch.schema.fields.map((f) => [f.name, f]));
  assert.equal(fields.obj.metadata.get('ct-pipeline:encoding'), 'json');
  assert.ok(fields[EXTRA_COLUMN]);
  assert.equal(batch.schema.metadata.get('ct-pipeline:extra'), EXTRA_COLUMN);
});

test('an empty stream is valid Arrow with no rows', () => {
  assert.deepEqual(roundTrip([]), []);
});

/** All records of Arrow bytes, read with `opts`. */
function readBack(bytes: Buffer, opts: Parameters<typeof batchToRecords>[1]): Rec[] {
  const out: Rec[] = [];
  for (const reader of RecordBatchReader.readAll(bytes)) for (const batch of reader) out.push(...batchToRecords(batch, opts));
  return out;
}

test('float32Vectors: float32 vectors come back as Float32Array views that print as arrays; others as before', () => {
  const enc = new ArrowEncoder(2);
  const recs = [
    { id: 'a', emb: Array.from(new Float32Array([0.1, -0.25, 3])), f64: [0.1, 0.2], tags: ['x'] },
    { id: 'b', emb: null, f64: [0.3, 0.4], tags: [] },
    { id: 'c', emb: Array.from(new Float32Array([1, 2, 3])), f64: [0.5, 0.6], tags: ['y', 'z'] },
  ];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const views = readBack(bytes, { float32Vectors: true });
  assert.ok(views[0].emb instanceof Float32Array && views[2].emb instanceof Float32Array);
  assert.equal(views[1].emb, null);
  assert.ok((views[0].emb as Float32Array).buffer.byteLength > 12, 'a view into the batch, not a copy');
  assert.deepEqual(Array.from(views[2].emb as Float32Array), recs[2].emb);
  assert.deepEqual(JSON.parse(JSON.stringify(views)), recs, 'JSON shows the vectors as arrays');
  assert.ok(Array.isArray(views[0].f64), 'float64 lists stay number[]');
  const plain = readBack(bytes, {});
  assert.ok(Array.isArray(plain[0].emb), 'the default is number[]');
  assert.deepEqual(plain, recs);
});

test('string lists and strings from Arrow made elsewhere, nulls included', () => {
  const list = new List(new Field('item', new Utf8(), true));
  const batch = new RecordBatch({
    tags: vectorFromArray([['a', null, 'ü'], null, []], list).data[0],
    s: vectorFromArray(['x', null, ''], new Utf8()).data[0],
  });
  assert.deepEqual([...batchToRecords(batch)], [
    { tags: ['a', null, 'ü'], s: 'x' },
    { tags: null, s: null },
    { tags: [], s: '' },
  ]);
});
