import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawJson, plain, stringifyRecord } from './rawjson.js';

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
