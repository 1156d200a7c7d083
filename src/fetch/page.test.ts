import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStudiesPage } from './page.js';

const study = (id: string, extra: Record<string, unknown> = {}) => ({ protocolSection: { identificationModule: { nctId: id } }, ...extra });

test('a page is cut into its studies\' texts, exactly as sent, and its other members', () => {
  const tricky = study('NCT2', { t: 'brackets } ] { [ and "quotes" \\" and \\\\', u: '\u00e9\ud83d\ude00', n: [1.5e3, -2, true, null, { a: [] }] });
  for (const space of [undefined, 2]) {
    const body = JSON.stringify({ totalCount: 2, studies: [study('NCT1'), tricky], nextPageToken: 'abc' }, null, space);
    const r = splitStudiesPage(body);
    assert.ok(r && r !== 'incomplete');
    assert.deepEqual(r.studies.map((s) => JSON.parse(s.json)), [study('NCT1'), tricky]);
    assert.deepEqual(r.meta, { totalCount: 2, nextPageToken: 'abc' });
    if (space === undefined) assert.equal(r.studies[1].json, JSON.stringify(tricky));
  }
  const empty = splitStudiesPage('{"studies":[]}');
  assert.ok(empty && empty !== 'incomplete');
  assert.deepEqual(empty.studies, []);
});

test('a body cut short is incomplete at every length; other shapes are left to JSON.parse', () => {
  const body = JSON.stringify({ studies: [study('NCT1', { s: 'a"b}c' }), study('NCT2')], nextPageToken: 'x', totalCount: 3 });
  for (let n = 0; n < body.length; n++) {
    const r = splitStudiesPage(body.slice(0, n));
    assert.ok(r === 'incomplete' || r === undefined, `cut at ${n}: ${JSON.stringify(r)}`);
    // Whatever it says, JSON.parse agrees that a cut body is not a page.
    assert.throws(() => JSON.parse(body.slice(0, n)));
  }
  for (const other of ['[]', '{"studies":{}}', '{"studies":[1]}', '{"studies":[[]]}', '{"a":1}', '{"studies":[{}]} x', '{"studies":[{}],"studies":[]}', 'null']) {
    assert.equal(splitStudiesPage(other), undefined, other);
  }
  assert.equal(splitStudiesPage('{"studies":[{"a":"x"]}'), 'incomplete'); // a wrong closing bracket
});
