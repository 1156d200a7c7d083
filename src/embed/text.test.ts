import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, idGetter, textGetter, templateFields } from './text.js';

test('template: fields by name, escapes, missing fields empty, lists joined', () => {
  const t = compileTemplate('Title: {title}\\n{brief_summary}\\t{{x}} {conditions}{missing}');
  assert.equal(t({ title: 'T', brief_summary: 'S', conditions: ['a', 'b'] }), 'Title: T\nS\t{x} a; b');
  assert.deepEqual(templateFields('Title: {title}\\n{ brief_summary }{{lit}}'), ['title', 'brief_summary']);
});

test('text field; blank text is empty', () => {
  const body = textGetter({ textField: 'body' });
  assert.equal(body({ body: 'hello' }), 'hello');
  assert.equal(body({ body: '   ' }), '');
  assert.equal(body({}), '');
  assert.equal(body({ body: 42 }), '42');
  const tpl = textGetter({ textField: 'text', template: '{a} {b}' });
  assert.equal(tpl({}), '');
});

test('id: nct_id, else id, or the named field', () => {
  assert.equal(idGetter()({ nct_id: 'NCT1', id: 3 }), 'NCT1');
  assert.equal(idGetter()({ id: 3 }), '3');
  assert.equal(idGetter()({}), undefined);
  assert.equal(idGetter('doc')({ doc: 'd1', id: 3 }), 'd1');
});
