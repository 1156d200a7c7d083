import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type Batch } from './batching.js';

function run(limits: { maxInputs: number; maxTokens: number; maxSpan: number }, texts: Array<[string, number] | null>) {
  const out: Batch<string>[] = [];
  const b = new Batcher<string>(limits, (x) => out.push(x));
  texts.forEach((t, i) => {
    if (t) b.add(t[0], t[1], i + 1); // null = a record that needs no request (cache hit, empty text)
    b.tick(i + 1);
  });
  b.flush();
  return out.map((x) => x.items.join(''));
}

test('closes batches at maxInputs', () => {
  const texts = Array.from({ length: 7 }, (_, i): [string, number] => [String(i), 1]);
  assert.deepEqual(run({ maxInputs: 3, maxTokens: 100, maxSpan: 100 }, texts), ['012', '345', '6']);
});

test('never goes over maxTokens; a single big text gets a batch of its own', () => {
  const texts: Array<[string, number]> = [['a', 4], ['b', 4], ['c', 3], ['d', 10], ['e', 1]];
  assert.deepEqual(run({ maxInputs: 10, maxTokens: 10, maxSpan: 100 }, texts), ['ab', 'c', 'd', 'e']);
});

test('closes a batch that spans maxSpan records, counting records without texts', () => {
  const texts = [['a', 1], null, null, ['b', 1], ['c', 1], null, null, null, null, ['d', 1]] as Array<[string, number] | null>;
  assert.deepEqual(run({ maxInputs: 10, maxTokens: 100, maxSpan: 4 }, texts), ['ab', 'c', 'd']);
});
