import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Input, InputItem } from './input.js';
import { stopOnSignal } from './signals.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function inputOf(items: () => AsyncGenerator<InputItem>): Input {
  return { name: 'test', format: 'ndjson', sizeBytes: undefined, bytesRead: 0, [Symbol.asyncIterator]: items } as Input;
}

test('stopOnSignal keeps no record it has handed on (memory stays flat over a long input)', async () => {
  const refs: WeakRef<object>[] = [];
  async function* items(): AsyncGenerator<InputItem> {
    for (let i = 0; i < 200; i++) {
      const value = { i, payload: 'x'.repeat(10_000) };
      refs.push(new WeakRef(value));
      yield { where: `test:${i + 1}`, line: i + 1, value };
    }
  }
  const input = stopOnSignal(inputOf(items), new AbortController().signal);
  let n = 0;
  for await (const item of input) n += item.value ? 1 : 0;
  assert.equal(n, 200);
  for (let k = 0; k < 3; k++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.ok(alive <= 2, `${alive} of 200 records read are still held in memory`);
});

test('stopOnSignal: an abort rejects the read in flight and every later one', async () => {
  const ac = new AbortController();
  let release: () => void = () => undefined;
  async function* items(): AsyncGenerator<InputItem> {
    yield { where: 'test:1', line: 1, value: { a: 1 } };
    await new Promise<void>((r) => (release = r)); // waits for bytes that never come
    yield { where: 'test:2', line: 2, value: { a: 2 } };
  }
  const it = stopOnSignal(inputOf(items), ac.signal)[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value?.value, { a: 1 });
  const pending = it.next();
  ac.abort(new Error('stop'));
  await assert.rejects(pending, /stop/);
  await assert.rejects(it.next(), /stop/);
  release();
});
