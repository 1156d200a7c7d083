import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { detectFormat, MAX_DEPTH, openInput, readNdjson, tooDeep, type InputItem } from './input.js';
import { Field, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Utf8, makeData, vectorFromArray } from 'apache-arrow';
import { ArrowEncoder } from './arrow.js';

async function collect(it: AsyncIterable<InputItem>): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.isBuffer(p) ? p : Buffer.from(p);
}

test('detectFormat: Arrow stream, Arrow file, NDJSON after BOM and space, empty', () => {
  assert.equal(detectFormat(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0])), 'arrow');
  assert.equal(detectFormat(Buffer.from('ARROW1\0\0')), 'arrow-file');
  assert.equal(detectFormat(Buffer.from('\ufeff  \n{"a":1}')), 'ndjson');
  assert.equal(detectFormat(Buffer.from(' \n\r\n')), 'empty');
  assert.equal(detectFormat(Buffer.alloc(0)), 'empty');
});

test('readNdjson: BOM, CRLF, blank lines, positions, invalid JSON as an item with its line', async () => {
  const items = await collect(readNdjson(chunks('\ufeff{"a":1}\r\n\n  \n{"a":2}\n{oops\n{"a":3}'), 'stdin'));
  assert.deepEqual(
    items.map((i) => [i.where, i.value, i.error === undefined]),
    [
      ['stdin:1', { a: 1 }, true],
      ['stdin:4', { a: 2 }, true],
      ['stdin:5', undefined, false],
      ['stdin:6', { a: 3 }, true],
    ],
  );
  assert.match(items[2].error!, /^invalid JSON/);
  assert.equal(items[2].text, '{oops');
});

test('readNdjson: a multi-byte character split across chunks survives', async () => {
  const bytes = Buffer.from('{"t":"naïve 试验"}\n');
  const cut = bytes.indexOf(Buffer.from('试')) + 1; // inside the 3-byte sequence
  const items = await collect(readNdjson(chunks(bytes.subarray(0, cut), bytes.subarray(cut)), 'x'));
  assert.deepEqual(items[0].value, { t: 'naïve 试验' });
});

test('openInput reads NDJSON and Arrow from a stream alike', async () => {
  const recs = [{ id: 'a', n: 1, tags: ['x'] }, { id: 'b', n: 2, tags: [] }];
  const nd = await openInput('-', Readable.from([Buffer.from(recs.map((r) => JSON.stringify(r)).join('\n'))]));
  assert.equal(nd.format, 'ndjson');
  assert.deepEqual((await collect(nd)).map((i) => i.value), recs);
  const enc = new ArrowEncoder(1);
  const parts = recs.map((r) => enc.push(r)).filter((b): b is Buffer => !!b);
  parts.push(enc.end());
  // feed the bytes in small pieces so detection has to gather them
  const all = Buffer.concat(parts);
  const pieces: Buffer[] = [];
  for (let i = 0; i < all.length; i += 3) pieces.push(all.subarray(i, i + 3));
  const ar = await openInput('-', Readable.from(pieces));
  assert.equal(ar.format, 'arrow');
  const items = await collect(ar);
  assert.deepEqual(items.map((i) => i.value), recs);
  assert.deepEqual(items.map((i) => i.where), ['stdin:1', 'stdin:2']);
});

test('openInput: empty input has no records; a missing file is a clear error', async () => {
  const empty = await openInput('-', Readable.from([]));
  assert.equal(empty.format, 'empty');
  assert.equal((await collect(empty)).length, 0);
  await assert.rejects(openInput('/nonexistent/x.ndjson'), /cannot open \/nonexistent\/x\.ndjson: ENOENT/);
});

test('openInput reads an Arrow file of streams back to back through a file handle, to the last byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-input-'));
  try {
    const stream = (recs: object[]) => {
      const enc = new ArrowEncoder(2);
      return Buffer.concat([...recs.map((r) => enc.push(r as never) ?? Buffer.alloc(0)), enc.end()]);
    };
    const a = [{ id: 'a', v: [0.5, 1] }, { id: 'b', v: [2, 3] }, { id: 'c', v: [4, 5] }];
    const path = join(dir, 'two.arrow');
    writeFileSync(path, Buffer.concat([stream(a), stream([{ id: 'd', n: 1 }])]));
    const input = await openInput(path, undefined, { float32Vectors: true });
    const items = await collect(input);
    assert.deepEqual(items.map((i) => i.where), [1, 2, 3, 4].map((n) => `${path}:${n}`));
    assert.ok(items[0].value && (items[0].value as { v: unknown }).v instanceof Float32Array);
    assert.deepEqual(JSON.parse(JSON.stringify(items.map((i) => i.value))), [...a, { id: 'd', n: 1 }]);
    assert.equal(input.bytesRead, input.sizeBytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unreadable Arrow input says where: record, batch and row', async () => {
  const json = new Field('j', new Utf8(), true, new Map([['ct-pipeline:encoding', 'json']]));
  const schema = new Schema([json]);
  const batch = (vals: string[]) => new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: vals.length, nullCount: 0, children: [vectorFromArray(vals, new Utf8()).data[0]] }));
  const bytes = RecordBatchStreamWriter.writeAll([batch(['1', '2']), batch(['3', '{oops'])]).toUint8Array(true);
  const input = await openInput('-', Readable.from([Buffer.from(bytes)]));
  await assert.rejects(collect(input), /stdin:4 \(batch 2, row 2\): unreadable Arrow input: .*JSON/);
});

test('an Arrow file cut short (no footer, as a killed run leaves it) is read up to its last complete batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-input-'));
  try {
    const enc = new ArrowEncoder(1, 8 << 20, { container: 'file', peekRows: 1 });
    const recs = [{ id: 'a' }, { id: 'b' }];
    const body = Buffer.concat(recs.map((r) => enc.push(r) ?? Buffer.alloc(0)));
    const path = join(dir, 'cut.arrow.partial');
    writeFileSync(path, body);
    const items = await collect(await openInput(path));
    assert.deepEqual(items.map((i) => i.value), recs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readNdjson: a value nested deeper than MAX_DEPTH is a bad item with its line, not a stack overflow later', async () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const items = await collect(readNdjson(chunks(`{"a":${deep(20_000)}}\n{"a":${deep(MAX_DEPTH - 1)}}\n{"b":2}\n`), 'stdin'));
  assert.equal(items.length, 3);
  assert.equal(items[0]!.error, `nested deeper than ${MAX_DEPTH} levels`);
  assert.equal(items[0]!.where, 'stdin:1');
  assert.ok(items[0]!.text!.length < 300, 'the rejected text is cut short');
  assert.equal(items[1]!.error, undefined, 'exactly MAX_DEPTH levels is fine');
  assert.deepEqual(items[2]!.value, { b: 2 });
  assert.equal(tooDeep({ a: [{ b: [1] }] }, 4), false);
  assert.equal(tooDeep({ a: [{ b: [1] }] }, 3), true);
  assert.equal(tooDeep(42, 0), false);
});

test('readNdjson: lines of pretty-printed JSON say the input is one JSON value per line, and how to get it', async () => {
  const items = await collect(readNdjson(chunks('{\n  "a": 1,\n  "b": [\n    2\n  ]\n}\n{oops}\n'), 'stdin'));
  const hint = '(the input must be one JSON value per line (NDJSON); pretty-printed JSON? compact it with jq -c)';
  assert.deepEqual(items.map((i) => i.error?.endsWith(hint)), [true, true, true, undefined, true, true, false]); // `2` alone parses
  assert.ok(!items[6]!.error!.includes('jq'), 'a plain bad line gets no hint');
});
