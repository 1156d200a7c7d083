import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeError } from '../io/errors.js';
import { AdaptiveConcurrency } from './concurrency.js';
import { ProviderError, type Provider } from './providers/types.js';
import { Sender } from './sender.js';

/** A provider that fails according to `script(texts, call)` (return an error to throw) and counts calls. */
function fake(script: (texts: string[], call: number) => ProviderError | undefined): Provider & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    name: 'fake', model: 'm', dims: 2, remote: true, calls,
    async embed(texts) {
      calls.push(texts);
      const err = script(texts, calls.length);
      if (err) throw err;
      return texts.map((t) => Float32Array.from([t.length, 1]));
    },
  };
}

const sender = (p: Provider, maxRetries = 3) =>
  new Sender({ provider: p, concurrency: new AdaptiveConcurrency(4), maxRetries, random: () => 0 });

test('retries 429 and 5xx with the server wait, counting requests and retries', async () => {
  const p = fake((_, call) =>
    call === 1 ? new ProviderError('429 slow down', 'retry', 429, 5) : call === 2 ? new ProviderError('500 oops', 'retry', 500) : undefined,
  );
  const s = sender(p);
  const out = await s.send(['a', 'bb'], [1, 1]);
  assert.deepEqual(out, [Float32Array.from([1, 1]), Float32Array.from([2, 1])]);
  assert.deepEqual(s.stats, { requests: 3, retries: 2, textsSent: 2, tokensSent: 2 });
});

test('a rejected batch is split until only the bad input fails', async () => {
  const p = fake((texts) => (texts.includes('bad') ? new ProviderError('400 invalid input', 'reject', 400) : undefined));
  const s = sender(p);
  const out = await s.send(['a', 'b', 'bad', 'c'], [1, 1, 1, 1]);
  assert.ok(out[0] instanceof Float32Array && out[1] instanceof Float32Array && out[3] instanceof Float32Array);
  assert.deepEqual(out[2], { error: '400 invalid input' });
  assert.equal(s.stats.textsSent, 3);
});

test('a batch above the server token budget is split, not retried forever', async () => {
  const p = fake((texts) => (texts.length > 1 ? new ProviderError('429 tpm', 'retry', 429, 1, 10) : undefined));
  const s = sender(p);
  const out = await s.send(['a', 'b', 'c'], [8, 8, 8]);
  assert.ok(out.every((v) => v instanceof Float32Array));
});

test('gives up after --max-retries, with the reason per text', async () => {
  const p = fake(() => new ProviderError('503 unavailable', 'retry', 503, 1));
  const s = sender(p, 2);
  const out = await s.send(['a'], [1]);
  assert.deepEqual(out, [{ error: 'gave up after 3 attempts: 503 unavailable' }]);
  assert.equal(p.calls.length, 3);
});

test('fatal errors stop the run', async () => {
  const p = fake(() => new ProviderError('401 bad key', 'fatal', 401));
  await assert.rejects(sender(p).send(['a'], [1]), (e) => e instanceof RuntimeError && /401/.test(e.message));
});
