import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RawJson, objectsAsText, plain, stringifyRecord, topLevelSpans } from './rawjson.js';

test('stringifyRecord splices RawJson text and equals JSON.stringify of the plain record', () => {
  const raw = '{"a":[1,2,{"b":"x\\u0001"}],"c":null}';
  const rec = { id: 'N1', skip: undefined, raw: new RawJson(raw), n: 3, f: () => 1, list: ['a'] };
  const s = stringifyRecord(rec as never);
  assert.ok(s.includes(raw), 'the text is used as is');
  assert.equal(s, JSON.stringify({ id: 'N1', raw: JSON.parse(raw), n: 3, list: ['a'] }));
  assert.deepEqual(JSON.parse(s), JSON.parse(JSON.stringify(rec)));
});

test('a record without RawJson is JSON.stringify itself; RawJson parses lazily, once', () => {
  const rec = { a: 1, b: { c: [true, null] } };
  assert.equal(stringifyRecord(rec), JSON.stringify(rec));
  const r = new RawJson('{"x":1}');
  assert.equal(plain(r), r.value);
  assert.deepEqual(plain(r), { x: 1 });
  assert.equal(plain(5), 5);
  assert.equal(JSON.stringify({ r }), '{"r":{"x":1}}');
});

test('stringifyRecord keeps the key order wherever the RawJson fields are', () => {
  for (const rec of [
    { raw: new RawJson('[1]'), a: 1 },
    { a: 1, raw: new RawJson('{"x":"y"}'), b: undefined },
    { a: 1, r1: new RawJson('1'), b: 'x', r2: new RawJson('null') },
    { r: new RawJson('"s"') },
    { a: undefined, r: new RawJson('2') },
  ]) {
    assert.equal(stringifyRecord(rec as never), JSON.stringify(rec));
  }
});

test('topLevelSpans: each top-level value as text, through strings with quotes, backslashes and brackets', () => {
  const json = ' { "a" : {"x":"}\\"{[","y":[1,{"z":"\\\\"}]} , "b":[ "]", {} ],"c":"\\\\\\"","d\\u0041":null,"e":-1.5e3 ,"a":{} } ';
  const spans = topLevelSpans(json)!;
  assert.deepEqual(
    spans.map(([k, s, e]) => [k, json.slice(s, e)]),
    [
      ['a', '{"x":"}\\"{[","y":[1,{"z":"\\\\"}]}'],
      ['b', '[ "]", {} ]'],
      ['c', '"\\\\\\""'],
      ['dA', 'null'],
      ['e', '-1.5e3'],
      ['a', '{}'],
    ],
  );
  for (const [, s, e] of spans) JSON.parse(json.slice(s, e)); // every span is one JSON value
  assert.deepEqual(topLevelSpans('{}'), []);
  assert.deepEqual(topLevelSpans(' { } '), []);
  assert.equal(topLevelSpans('[1,2]'), undefined);
  assert.equal(topLevelSpans('"x"'), undefined);
});

test('objectsAsText: object fields become their text (the last of a repeated key), everything else stays; same JSON', () => {
  const json = '{"id":"a","raw":{"k":1},"list":[{"t":1}],"n":null,"o":{"deep":{"s":"}"}},"raw":{"k":2},"__proto__":{"p":1}}';
  const rec = objectsAsText(JSON.parse(json) as Record<string, unknown>, json);
  assert.ok(rec.raw instanceof RawJson && rec.o instanceof RawJson);
  assert.equal((rec.raw as RawJson).json, '{"k":2}');
  assert.equal((rec.o as RawJson).json, '{"deep":{"s":"}"}}');
  assert.ok(Array.isArray(rec.list) && rec.n === null && rec.id === 'a');
  assert.equal(Object.getPrototypeOf(rec), Object.prototype, 'a __proto__ field never sets the prototype');
  assert.deepEqual(JSON.parse(stringifyRecord(rec)), JSON.parse(json));
  const none = { a: 1, b: [1] };
  assert.equal(objectsAsText(none, JSON.stringify(none)), none);
});

test('objectsAsText over the fixture studies and their prepared records: the same values, the objects as their own text', () => {
  const lines = readFileSync(new URL('../../../test/fixtures/studies-sample.ndjson', import.meta.url), 'utf8').trim().split('\n');
  for (const line of lines) {
    const prepared = JSON.stringify({ nct_id: 'x', interventions: [{ type: 'DRUG', name: 'a' }], raw: JSON.parse(line) });
    for (const json of [line, prepared, ' ' + prepared.replace(/,/g, ' , ').replace(/:/g, ' : ') + ' ']) {
      const rec = objectsAsText(JSON.parse(json) as Record<string, unknown>, json);
      assert.deepEqual(JSON.parse(stringifyRecord(rec)), JSON.parse(json));
      for (const v of Object.values(rec)) if (v instanceof RawJson) assert.equal(v.json.charCodeAt(0), 0x7b);
    }
  }
});
