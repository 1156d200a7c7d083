import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DateDay,
  DateMillisecond,
  Dictionary,
  Field,
  Float16,
  Int32,
  Int64,
  LargeList,
  LargeUtf8,
  List,
  Map_,
  RecordBatch,
  RecordBatchReader,
  Struct,
  TimestampMillisecond,
  Utf8,
  tableFromIPC,
  vectorFromArray,
} from 'apache-arrow';
import { ArrowEncoder, batchToRecords, EXTRA_COLUMN, UTF8_BYTES_MIN, type Rec } from './arrow.js';
import { RawJson, Utf8Text } from './rawjson.js';

/** Through Arrow and back; the types are chosen from the first batch alone, so later values test the extra column. */
function roundTrip(records: Rec[], maxRows = 2): Rec[] {
  const enc = new ArrowEncoder(maxRows, 8 << 20, { peekRows: maxRows });
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
  const v = [0.1, -0.25, 3, 0.33333334]; // float32 values as their shortest text spells them
  const recs = [
    { id: 'a', n: 1, f: 1.5, ok: true, tags: ['x', 'y'], raw: { deep: [1, { k: 'v' }] }, emb: v, none: null },
    { id: 'b', n: -7, f: 2, ok: false, tags: [], raw: { deep: [] }, emb: v.map((x) => -x), none: null },
  ];
  assert.deepEqual(roundTrip(recs), recs);
  const enc = new ArrowEncoder(2);
  enc.push(recs[0]!);
  const col = tableFromIPC(enc.end()).schema.fields.find((f) => f.name === 'emb')!;
  assert.equal(String(col.type), 'FixedSizeList[4]<Float32>');
});

test('a float32 vector in the spelling of its doubles (17 digits) is stored as float32 and comes back in the short one', () => {
  const wide = Array.from(new Float32Array([0.1, -0.25, 3, 1 / 3]));
  assert.deepEqual(wide, [0.10000000149011612, -0.25, 3, 0.3333333432674408]);
  const out = roundTrip([{ id: 'a', emb: wide }, { id: 'b', emb: wide }]);
  assert.deepEqual(out[0], { id: 'a', emb: [0.1, -0.25, 3, 0.33333334] });
  assert.deepEqual(Float32Array.from(out[1]!.emb as number[]), Float32Array.from(wide));
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

test('vectors that are not float32 values keep full precision; length changes are carried', () => {
  const recs = [
    { id: 'a', v: [0.1, 0.123456789012] },
    { id: 'b', v: [0.3, 0.4] },
    { id: 'c', v: [0.5, 0.6, 0.7] },
  ];
  assert.deepEqual(roundTrip(recs), recs);
  const enc = new ArrowEncoder(2);
  enc.push(recs[0]!);
  const col = tableFromIPC(enc.end()).schema.fields.find((f) => f.name === 'v')!;
  assert.equal(String(col.type), 'FixedSizeList[2]<Float64>');
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
    { id: 'a', emb: [0.1, -0.25, 3], f64: [0.1, 0.123456789012], tags: ['x'] },
    { id: 'b', emb: null, f64: [0.3, 0.4], tags: [] },
    { id: 'c', emb: [1, 2, 3], f64: [0.5, 0.6], tags: ['y', 'z'] },
  ];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const views = readBack(bytes, { float32Vectors: true });
  assert.ok(views[0].emb instanceof Float32Array && views[2].emb instanceof Float32Array);
  assert.equal(views[1].emb, null);
  assert.ok((views[0].emb as Float32Array).buffer.byteLength > 12, 'a view into the batch, not a copy');
  assert.deepEqual(Array.from(views[2].emb as Float32Array), recs[2].emb);
  assert.equal((views[0].emb as Float32Array)[0], Math.fround(0.1), 'the float32 itself');
  assert.deepEqual(JSON.parse(JSON.stringify(views)), recs, 'JSON shows the vectors as arrays');
  assert.ok(Array.isArray(views[0].f64), 'float64 lists stay number[]');
  const plain = readBack(bytes, {});
  assert.ok(Array.isArray(plain[0].emb), 'the default is number[]');
  assert.deepEqual(plain, recs);
});

test('rawJson: objects in JSON columns come back as their text (RawJson); other JSON values and the extra column parsed', () => {
  const enc = new ArrowEncoder(2, 8 << 20, { peekRows: 2 });
  const recs = [
    { id: 'a', raw: { s: { b: [1, 2] } }, mixed: [1, 'x'] },
    { id: 'b', raw: null, mixed: 'text' },
    { id: 'c', raw: { t: 1 }, mixed: null, late: { k: 1 } },
  ];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const got = readBack(bytes, { rawJson: true });
  assert.ok(got[0].raw instanceof RawJson);
  assert.equal((got[0].raw as RawJson).json, '{"s":{"b":[1,2]}}');
  assert.equal(got[1].raw, null);
  assert.deepEqual(got[0].mixed, [1, 'x'], 'an array is parsed');
  assert.equal(got[1].mixed, 'text', 'a string is parsed');
  assert.deepEqual(got[2].late, { k: 1 }, 'a value from the extra column (a field after the first batch) is a plain value');
  assert.deepEqual(JSON.parse(JSON.stringify(got)), recs, 'RawJson prints as its value');
  assert.ok(!(readBack(bytes, {})[0].raw instanceof RawJson), 'the default parses');
});

test('utf8Bytes: long strings come back as their UTF-8 bytes (Utf8Text), short ones as strings; JSON objects as RawJson over bytes', () => {
  const enc = new ArrowEncoder(2, 8 << 20, { peekRows: 2 });
  const long = 'é'.repeat(UTF8_BYTES_MIN / 2); // exactly UTF8_BYTES_MIN bytes
  const recs = [
    { id: 'a', s: long, short: 'x'.repeat(UTF8_BYTES_MIN - 1), raw: { s: long }, mixed: [1, 'x'] },
    { id: 'b', s: null, short: '', raw: null, mixed: 'text' },
  ];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const got = readBack(bytes, { rawJson: true, utf8Bytes: true });
  assert.ok(got[0].s instanceof Utf8Text);
  assert.equal(String(got[0].s), long);
  assert.equal((got[0].s as Utf8Text).utf8.byteLength, UTF8_BYTES_MIN);
  assert.ok((got[0].s as Utf8Text).utf8.buffer.byteLength > UTF8_BYTES_MIN, 'a view into the batch, not a copy');
  assert.equal(typeof got[0].short, 'string', 'one byte shorter: a string');
  assert.equal(got[0].id, 'a');
  assert.ok(got[0].raw instanceof RawJson && (got[0].raw as RawJson).utf8 instanceof Uint8Array);
  assert.deepEqual((got[0].raw as RawJson).value, { s: long });
  assert.deepEqual(got[0].mixed, [1, 'x'], 'an array in a JSON column is parsed');
  assert.equal(got[1].s, null);
  assert.deepEqual(JSON.parse(JSON.stringify(got)), recs, 'they print as their values');
  assert.equal(typeof readBack(bytes, { rawJson: true })[0].s, 'string', 'off by default');
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

test('foreign types: Struct, Map, Int64, Date32, Date64, Timestamp, Dictionary, LargeUtf8, Float16, LargeList', () => {
  const st = new Struct([new Field('a', new Int32(), true), new Field('b', new Utf8(), true)]);
  const entries = new Struct<{ key: Utf8; value: Int32 }>([new Field('key', new Utf8(), false), new Field('value', new Int32(), true)] as never);
  const map = new Map_(new Field('entries', entries, false));
  const batch = new RecordBatch({
    st: vectorFromArray([{ a: 1, b: 'x' }, { a: 2, b: null }], st).data[0],
    m: vectorFromArray([new Map([['k', 1]]), new Map()], map).data[0],
    i64: vectorFromArray([2n ** 40n, 2n ** 60n], new Int64()).data[0],
    d32: vectorFromArray([new Date('2020-03-01'), null], new DateDay()).data[0],
    d64: vectorFromArray([new Date('2021-12-31'), null], new DateMillisecond()).data[0],
    ts: vectorFromArray([Date.UTC(2022, 0, 2, 3, 4, 5), null], new TimestampMillisecond()).data[0],
    dict: vectorFromArray(['RECRUITING', 'RECRUITING'], new Dictionary(new Utf8(), new Int32())).data[0],
    lu: vectorFromArray(['long', null], new LargeUtf8()).data[0],
    f16: vectorFromArray([0.5, -2], new Float16()).data[0],
    ll: vectorFromArray([[1n, 2n], []], new LargeList(new Field('item', new Int64(), true))).data[0],
  });
  assert.deepEqual([...batchToRecords(batch)], [
    { st: { a: 1, b: 'x' }, m: { k: 1 }, i64: 2 ** 40, d32: '2020-03-01', d64: '2021-12-31', ts: '2022-01-02T03:04:05.000Z', dict: 'RECRUITING', lu: 'long', f16: 0.5, ll: [1, 2] },
    { st: { a: 2 }, m: {}, i64: '1152921504606846976', d32: null, d64: null, ts: null, dict: 'RECRUITING', lu: null, f16: -2, ll: [] },
  ]);
  assert.doesNotThrow(() => JSON.stringify([...batchToRecords(batch)]), 'no BigInt left');
});

test('the pipeline fields keep their types when null or absent throughout the first batch; late strings stay strings', () => {
  const enc = new ArrowEncoder(2, 8 << 20, { peekRows: 2 });
  const recs: Rec[] = [{ nct_id: 'a', acronym: null }, { nct_id: 'b', acronym: null }, { nct_id: 'c', acronym: 'LATE', enrollment: 12 }];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const table = tableFromIPC(bytes);
  assert.equal(String(table.schema.fields.find((f) => f.name === 'acronym')!.type), 'Utf8');
  assert.equal(table.getChild('acronym')!.get(2), 'LATE', 'other readers see the plain string, not JSON text');
  assert.deepEqual(readBack(bytes, {}), recs);
});

test('types come from a peek past the first batch: a later float widens an integer column for every reader', () => {
  const enc = new ArrowEncoder(2);
  const recs: Rec[] = [{ id: 'a', n: 1 }, { id: 'b', n: 2 }, { id: 'c', n: 2.5 }, { id: 'd', s: 'late' }];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  const table = tableFromIPC(bytes);
  assert.equal(table.batches.length, 2);
  assert.equal(String(table.schema.fields.find((f) => f.name === 'n')!.type), 'Float64');
  assert.equal(table.getChild('n')!.get(2), 2.5);
  assert.equal(table.getChild('s')!.get(3), 'late');
  assert.deepEqual(readBack(bytes, {}), recs);
});

test('the file container has the magic at both ends and reads back equal', () => {
  const enc = new ArrowEncoder(1, 8 << 20, { container: 'file' });
  const recs = [{ id: 'a', v: [0.5, 1] }, { id: 'b', v: [2, 3] }];
  const bytes = Buffer.concat([...recs.map((r) => enc.push(r) ?? Buffer.alloc(0)), enc.end()]);
  assert.equal(bytes.subarray(0, 6).toString(), 'ARROW1');
  assert.equal(bytes.subarray(-6).toString(), 'ARROW1');
  const out: Rec[] = [];
  for (const batch of RecordBatchReader.from(bytes)) out.push(...batchToRecords(batch));
  assert.deepEqual(out, recs);
});

test('Parquet: one row group per batch, read back equal, also with no records', async () => {
  const { ParquetWriter, readParquetBatches } = await import('./parquet.js');
  const { ArrowBatcher } = await import('./arrow.js');
  const dir = mkdtempSync(join(tmpdir(), 'ct-parquet-'));
  try {
    for (const recs of [[{ id: 'a', n: 1, v: [0.5, 1] }, { id: 'b', n: 2, v: [2, 3] }, { id: 'c', n: null, v: [4, 5], x: 'late' }], []]) {
      const batcher = new ArrowBatcher({ maxRows: 1, peekRows: 1 });
      const w = new ParquetWriter(1);
      const parts: Buffer[] = [];
      for (const r of recs) for (const b of batcher.push(r as Rec)) parts.push(await w.write(b));
      parts.push(await w.finish(batcher.finalSchema()));
      const path = join(dir, 'x.parquet');
      writeFileSync(path, Buffer.concat(parts));
      const batches = [];
      for await (const b of readParquetBatches(path)) batches.push(b);
      assert.equal(batches.length, recs.length, 'a row group per batch');
      assert.deepEqual(batches.flatMap((b) => [...batchToRecords(b)]), recs);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
