import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rec } from '../io/arrow.js';
import type { Embedded } from './embed.js';
import { float32Values } from '../io/f32json.js';
import { closingBrace, embeddedOutput } from './output.js';

const LABEL = 'hash/fh-v2@4';
const VEC = Float32Array.from([0.1, -0.25, 1e-7, 0.3333333432674408]);

/** The record re-serialized with the two fields (the vector as the numbers of its text). */
const slow = (rec: Rec, v: Float32Array | null, field = 'embedding') =>
  JSON.stringify({ ...rec, [field]: v ? float32Values(v) : null, embedding_model: v ? LABEL : null });

const embedded = (line: string | undefined, v: Float32Array | null, rec: Rec = JSON.parse(line!)): Embedded => ({
  item: { where: 'stdin:1', line: 1, value: rec, json: line },
  rec,
  vector: v,
});

const text = (json: string | Uint8Array | undefined) => (typeof json === 'string' ? json : Buffer.from(json!).toString('utf8'));

const odd: Rec[] = [
  { nct_id: 'NCT1', text: 'plain' },
  {},
  { text: 'unicode: é ß 中文 😀, a lone \ud800 surrogate, control \u0001 and "quotes" \\ / ' },
  { '': 1, 'we"ird key': [1, 2.5, -0, 1e21, 1e-7], nested: { a: [{ b: null }], c: true }, text: null },
  { 2: 'integer-like keys', 1: 'come first', z: 'x', text: 't' },
  { raw: { protocolSection: { identificationModule: { nctId: 'NCT1' } } }, text: 'x'.repeat(70_000) },
  { embedding_other: [1], text: '}' },
];

test('NDJSON: a canonical line with the fields appended is exactly the record re-serialized', () => {
  const out = embeddedOutput('ndjson', 'embedding', LABEL);
  for (const rec of odd) {
    for (const v of [VEC, null]) {
      const line = JSON.stringify(rec);
      const got = out(embedded(line, v, JSON.parse(line)));
      assert.ok(got.json instanceof Uint8Array, 'the fast path gives bytes');
      assert.equal(text(got.json), slow(JSON.parse(line), v), line.slice(0, 80));
    }
  }
});

test('NDJSON: records that have the vector field or embedding_model, or no line (Arrow input), are re-serialized', () => {
  const out = embeddedOutput('ndjson', 'embedding', LABEL);
  const cases: Rec[] = [
    { a: 1, embedding: [9, 9], b: 2, text: 't' },
    { embedding_model: 'old', text: 't', z: 0 },
    { text: 't', embedding: null, embedding_model: null },
  ];
  for (const rec of cases) {
    const line = JSON.stringify(rec);
    const got = out(embedded(line, VEC, JSON.parse(line)));
    assert.equal(text(got.json), slow(rec, VEC), line);
  }
  const rec = { text: 't', n: 1 };
  assert.equal(text(out(embedded(undefined, VEC, rec)).json), slow(rec, VEC));
});

test('NDJSON: --embedding-field with odd names, and embedding_model itself, give what a spread gives', () => {
  for (const field of ['vec "x"', '__proto__', 'embedding_model', 'é']) {
    const out = embeddedOutput('ndjson', field, LABEL);
    const rec = { text: 't', n: 1 };
    const line = JSON.stringify(rec);
    assert.equal(text(out(embedded(line, VEC, JSON.parse(line))).json), slow(rec, VEC, field), field);
  }
});

test('NDJSON: a line not written as JSON.stringify would keeps its own spelling, with the same JSON value', () => {
  const out = embeddedOutput('ndjson', 'embedding', LABEL);
  const lines = [
    '{"id": 1, "text": "some text"}',
    '  { "text" : "t\\u00e9\\/x" , "n" : 1.50, "big": 12345678901234567890 }  \t',
    '{ }',
    '{"text":"dup","text":"last wins"}',
  ];
  for (const line of lines) {
    const rec = JSON.parse(line);
    const got = text(out(embedded(line, VEC, rec)).json);
    assert.ok(got.startsWith(line.slice(0, closingBrace(line))), 'the line as read');
    assert.deepEqual(JSON.parse(got), JSON.parse(slow(rec, VEC)), line);
  }
  assert.ok(text(out(embedded('{"big": 12345678901234567890,"text":"t"}', VEC)).json).includes('12345678901234567890'), 'digits JSON.parse would round are kept');
});

test('NDJSON: the buffer is reused by the next record (the writer copies it at once)', () => {
  const out = embeddedOutput('ndjson', 'embedding', LABEL);
  const a = out(embedded('{"text":"a"}', VEC)).json as Uint8Array;
  const first = Buffer.from(a).toString();
  out(embedded('{"text":"bbbbbbbb"}', null));
  assert.notEqual(Buffer.from(a).toString(), first);
});

test('closingBrace: after trailing JSON white space only', () => {
  assert.equal(closingBrace('{"a":1}'), 6);
  assert.equal(closingBrace('{"a":1} \t\r\n'), 6);
  assert.equal(closingBrace('[1]'), -1);
  assert.equal(closingBrace(''), -1);
});

test('Arrow: the record gets the vector as a Float32Array that serializes as a list, and embedding_model', () => {
  const out = embeddedOutput('arrow', 'embedding', LABEL);
  for (const rec of [{ text: 't', embedding: [1], z: 1 }, { text: 't' }]) {
    const want = slow(rec, VEC);
    const got = out(embedded(undefined, VEC, { ...rec }));
    assert.equal(got.json, undefined);
    assert.ok(got.rec.embedding instanceof Float32Array);
    assert.equal(JSON.stringify(got.rec), want);
  }
  const none = out(embedded(undefined, null, { text: '' }));
  assert.deepEqual(none.rec, { text: '', embedding: null, embedding_model: null });
});
