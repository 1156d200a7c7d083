import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelLabel, providerForModel } from './search.js';

test('labels: a non-default server is part of the provider; models may hold slashes', () => {
  assert.deepEqual(parseModelLabel('openai/text-embedding-3-small@1536'), { provider: 'openai', model: 'text-embedding-3-small', dims: 1536 });
  assert.deepEqual(parseModelLabel('openai@localhost:8080/BAAI/bge-small-en@384'), {
    provider: 'openai', server: 'localhost:8080', model: 'BAAI/bge-small-en', dims: 384,
  });
  assert.equal(parseModelLabel('nonsense'), undefined);
});

test('a table embedded by another server is searched through that server only', async () => {
  const label = 'openai@localhost:8080/bge@384';
  await assert.rejects(providerForModel(label, {}), /set OPENAI_API_KEY/);
  await assert.rejects(providerForModel(label, { apiKey: 'k' }), /embedded with openai@localhost:8080\/bge@384, by the server at localhost:8080: set OPENAI_BASE_URL \(or --base-url\) to its URL/);
  await assert.rejects(providerForModel(label, { baseURL: 'http://localhost:9090/v1' }), /points at localhost:9090$/);
  await assert.rejects(providerForModel(label, { apiKey: 'k', baseURL: 'https://api.openai.com/v1' }), /points at OpenAI$/);
  const p = await providerForModel(label, { baseURL: 'http://LOCALHOST:8080/v1' });
  assert.deepEqual([p.name, p.model, p.dims, p.server], ['openai', 'bge', 384, 'localhost:8080']);
  const plain = await providerForModel('openai/text-embedding-3-small@1536', { apiKey: 'k' });
  assert.equal(plain.server, undefined);
});
