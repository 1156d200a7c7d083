import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mockVector, startOpenAIMock, type OpenAIMock } from '../../../test/mocks/openai-mock.js';
import { openaiProvider, serverWait } from './openai.js';
import { ProviderError } from './types.js';

describe('openai provider against the mock', () => {
  let mock: OpenAIMock;
  before(async () => {
    mock = await startOpenAIMock({ requireKey: 'sk-unit-SECRET-0123456789' });
  });
  after(() => mock.close());
  const provider = (o: { encoding?: 'float' | 'base64'; dims?: number; key?: string; send?: boolean } = {}) =>
    openaiProvider({
      model: 'text-embedding-3-small',
      dims: o.dims ?? 64,
      sendDimensions: o.send ?? true,
      encoding: o.encoding ?? 'base64',
      apiKey: o.key ?? 'sk-unit-SECRET-0123456789',
      baseURL: mock.url,
      timeoutMs: 5000,
    });

  for (const encoding of ['float', 'base64'] as const) {
    test(`${encoding}: exact float32 vectors in input order`, async () => {
      const vs = await provider({ encoding }).embed(['alpha', 'beta', 'gamma']);
      assert.deepEqual(vs, ['alpha', 'beta', 'gamma'].map((t) => mockVector(t, 64)));
      assert.equal(mock.requestLog.at(-1)!.encoding, encoding);
      assert.equal(mock.requestLog.at(-1)!.dimensions, 64);
    });
  }

  test('429 is retryable with the server wait; 401 is fatal and never shows the key', async () => {
    mock.setFaults({ rate429: 1, retryAfterSeconds: 1.5 });
    const e = await provider().embed(['x']).catch((err: unknown) => err);
    mock.setFaults({});
    assert.ok(e instanceof ProviderError);
    assert.equal(e.kind, 'retry');
    assert.equal(e.status, 429);
    assert.equal(e.retryAfterMs, 1500);
    const bad = 'sk-unit-WRONG-0123456789';
    const f = await provider({ key: bad }).embed(['x']).catch((err: unknown) => err);
    assert.ok(f instanceof ProviderError);
    assert.equal(f.kind, 'fatal');
    assert.ok(!f.message.includes(bad));
  });

  test('vectors of an unexpected size are fatal (wrong --dimensions)', async () => {
    const e = await provider({ dims: 32, send: false }).embed(['x']).catch((err: unknown) => err);
    assert.ok(e instanceof ProviderError && e.kind === 'fatal' && /1536-dimensional/.test(e.message));
  });

  test('a refused connection is retryable', async () => {
    const p = openaiProvider({ model: 'text-embedding-3-small', dims: 8, sendDimensions: true, encoding: 'float', apiKey: 'k', baseURL: 'http://127.0.0.1:1/v1', timeoutMs: 2000 });
    const e = await p.embed(['x']).catch((err: unknown) => err);
    assert.ok(e instanceof ProviderError && e.kind === 'retry', String(e));
  });
});

test('serverWait: retry-after-ms, retry-after, then the exhausted budget reset', () => {
  assert.equal(serverWait(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' })), 250);
  assert.equal(serverWait(new Headers({ 'retry-after': '2' })), 2000);
  assert.equal(serverWait(new Headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s', 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-reset-requests': '1s' })), 360_000);
  assert.equal(serverWait(new Headers({})), undefined);
});

test('a non-default base URL is the label\'s server (host:port) and the cache scope, without secrets', async () => {
  const { serverOf } = await import('./openai.js');
  const { modelLabel } = await import('./types.js');
  assert.equal(serverOf(undefined), undefined);
  assert.equal(serverOf('https://api.openai.com/v1'), undefined);
  assert.equal(serverOf('https://API.OpenAI.com/v1/'), undefined);
  assert.deepEqual(serverOf('http://user:pw-secret@LocalHost:8080/v1/?key=q-secret#x'), { server: 'localhost:8080', cacheScope: 'http://localhost:8080/v1' });
  assert.deepEqual(serverOf('https://tei.example/embed'), { server: 'tei.example', cacheScope: 'https://tei.example/embed' });
  assert.equal(modelLabel({ name: 'openai', model: 'text-embedding-3-small', dims: 1536 }), 'openai/text-embedding-3-small@1536');
  assert.equal(modelLabel({ name: 'openai', model: 'BAAI/bge-small-en', dims: 384, server: 'localhost:8080' }), 'openai@localhost:8080/BAAI/bge-small-en@384');
});
