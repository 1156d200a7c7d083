import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InputItem } from '../io/input.js';
import { UsageError } from '../io/errors.js';
import { compileTemplate, idGetter, requireFields, textGetter, templateFields } from './text.js';

test('template: fields by name, escapes, missing fields empty, lists joined', () => {
  const t = compileTemplate('Title: {title}\\n{brief_summary}\\t{{x}} {conditions}{missing}');
  assert.equal(t({ title: 'T', brief_summary: 'S', conditions: ['a', 'b'] }), 'Title: T\nS\t{x} a; b');
  assert.deepEqual(templateFields('Title: {title}\\n{ brief_summary }{{lit}}'), ['title', 'brief_summary']);
});

test('text field; blank text and null are empty; a missing field or a non-string is a bad record', () => {
  const body = textGetter({ textField: 'body' });
  assert.equal(body({ body: 'hello' }), 'hello');
  assert.equal(body({ body: '   ' }), '');
  assert.equal(body({ body: null }), '');
  assert.deepEqual(body({}), { error: 'no field "body" (see --text-field)' });
  assert.deepEqual(body({ body: 42 }), { error: 'field "body" is a number (42), not text' });
  assert.deepEqual(body({ body: { a: 1 } }), { error: 'field "body" is an object, not text' });
  assert.deepEqual(body({ body: ['a'] }), { error: 'field "body" is a list, not text' });
  const tpl = textGetter({ textField: 'text', template: '{a} {b}' });
  assert.equal(tpl({}), '');
});

test('id: nct_id, else id, or the named field', () => {
  assert.equal(idGetter()({ nct_id: 'NCT1', id: 3 }), 'NCT1');
  assert.equal(idGetter()({ id: 3 }), '3');
  assert.equal(idGetter()({}), undefined);
  assert.equal(idGetter('doc')({ doc: 'd1', id: 3 }), 'd1');
});

async function drain(items: InputItem[], opts: { template?: string; textField: string }, look?: number): Promise<number> {
  let n = 0;
  for await (const _ of requireFields((async function* () { yield* items; })(), opts, look)) n++;
  return n;
}
const item = (value: unknown, i = 1): InputItem => ({ where: `stdin:${i}`, line: i, value });

test('requireFields: a field no record of the first ones has is a usage error naming the fields there', async () => {
  const recs = [item({ id: 1, text: 'a' }, 1), item({ id: 2, body: 'b' }, 2), { where: 'stdin:3', line: 3, error: 'invalid JSON' }];
  assert.equal(await drain(recs, { textField: 'text' }), 3);
  assert.equal(await drain(recs, { textField: 'body' }), 3, 'one record having it is enough');
  await assert.rejects(drain(recs, { textField: 'nope' }), (e: unknown) =>
    e instanceof UsageError && e.message === '--text-field nope: none of the first 2 records has that field; fields there: id, text, body');
  await assert.rejects(drain(recs, { textField: 'text', template: '{titel}: {text}' }), (e: unknown) =>
    e instanceof UsageError && /^--template: \{titel\}: none of the first 2 records has that field/.test(e.message));
  assert.equal(await drain(recs, { textField: 'nope', template: '{id} {{literal}}' }), 3, 'the template decides, literal braces are no field');
  // Only the first records are looked at; no records at all (empty or only bad lines) is not checked.
  assert.equal(await drain([item({ a: 1 }, 1), item({ text: 'x' }, 2)], { textField: 'text' }, 2), 2);
  await assert.rejects(drain([item({ a: 1 }, 1), item({ text: 'x' }, 2)], { textField: 'text' }, 1), /the first record has that field/);
  assert.equal(await drain([], { textField: 'nope' }), 0);
  assert.equal(await drain([{ where: 'stdin:1', line: 1, error: 'bad' }], { textField: 'nope' }), 1);
});
