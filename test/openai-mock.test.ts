import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { mockVector, startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';

function client(mock: OpenAIMock, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ apiKey: 'test', baseURL: mock.url, maxRetries: 0, ...extra });
}

function assertSameVector(actual: ArrayLike<number>, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.fround(actual[i]!) !== expected[i]) {
      assert.fail(`component ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function decodeB64(s: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

async function rejects(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail('expected the request to fail');
}

describe('mockVector', () => {
  test('deterministic, unit length, truncation = prefix re-normalised', () => {
    const a = mockVector('hello', 1536);
    const b = mockVector('hello', 1536);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, mockVector('hello!', 1536));
    const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5);
    const short = mockVector('hello', 64);
    const prefix = Array.from(a.slice(0, 64));
    const pn = Math.sqrt(prefix.reduce((s, x) => s + x * x, 0));
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(short[i]! - prefix[i]! / pn) < 1e-6);
  });
});

describe('openai mock with the official SDK', () => {
  let mock: OpenAIMock;
  let oai: OpenAI;
  before(async () => {
    mock = await startOpenAIMock();
    oai = client(mock);
  });
  after(async () => {
    await mock.close();
  });

  test('encoding_format float returns mockVector values', async () => {
    const r = await oai.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'], encoding_format: 'float' });
    assert.equal(r.object, 'list');
    assert.equal(r.model, 'text-embedding-3-small');
    assert.equal(r.data.length, 2);
    assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
    assertSameVector(r.data[0]!.embedding, mockVector('alpha', 1536));
    assertSameVector(r.data[1]!.embedding, mockVector('beta', 1536));
    assert.ok(r.usage.prompt_tokens >= 2);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);
    assert.equal(mock.requestLog.at(-1)!.encoding, 'float');
  });

  test('SDK default (sends base64, decodes itself) returns mockVector values', async () => {
    const r = await oai.embeddings.create({ model: 'text-embedding-3-small', input: 'gamma' });
    assert.equal(mock.requestLog.at(-1)!.encoding, 'base64');
    assert.ok(Array.isArray(r.data[0]!.embedding));
    assertSameVector(r.data[0]!.embedding, mockVector('gamma', 1536));
  });

  test('explicit base64 is returned as a string by the SDK', async () => {
    const r = await oai.embeddings.create({ model: 'text-embedding-3-small', input: ['delta'], encoding_format: 'base64' });
    const s = r.data[0]!.embedding as unknown as string;
    assert.equal(typeof s, 'string');
    assertSameVector(decodeB64(s), mockVector('delta', 1536));
  });

  test('dimensions are honoured (truncated + re-normalised)', async () => {
    const r = await oai.embeddings.create({ model: 'text-embedding-3-small', input: 'eps', dimensions: 256 });
    assertSameVector(r.data[0]!.embedding, mockVector('eps', 256));
    const big = await oai.embeddings.create({ model: 'text-embedding-3-large', input: 'eps', encoding_format: 'float' });
    assertSameVector(big.data[0]!.embedding, mockVector('eps', 3072));
    const big2 = await oai.embeddings.create({ model: 'text-embedding-3-large', input: 'eps', dimensions: 3072 });
    assert.equal(big2.data[0]!.embedding.length, 3072);
    assert.equal(mock.requestLog.at(-1)!.dimensions, 3072);
  });

  test('bad dimensions / ada-002 with dimensions → 400', async () => {
    for (const [model, dimensions] of [
      ['text-embedding-3-small', 0],
      ['text-embedding-3-small', 1537],
      ['text-embedding-ada-002', 512],
    ] as const) {
      const e = await rejects(oai.embeddings.create({ model, input: 'x', dimensions }));
      assert.ok(e instanceof OpenAI.BadRequestError, `${model}/${dimensions}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
    }
    const ok = await oai.embeddings.create({ model: 'text-embedding-ada-002', input: 'x' });
    assert.equal(ok.data[0]!.embedding.length, 1536);
  });

  test('token-id inputs use the JSON of the ids', async () => {
    const one = [9906, 1917];
    const r1 = await oai.embeddings.create({ model: 'text-embedding-3-small', input: one, encoding_format: 'float' });
    assert.equal(r1.data.length, 1);
    assertSameVector(r1.data[0]!.embedding, mockVector(JSON.stringify(one), 1536));
    assert.equal(r1.usage.prompt_tokens, 2);
    const many = [[1, 2, 3], [4]];
    const r2 = await oai.embeddings.create({ model: 'text-embedding-3-small', input: many, dimensions: 8 });
    assert.equal(r2.data.length, 2);
    assertSameVector(r2.data[1]!.embedding, mockVector('[4]', 8));
    assert.equal(r2.usage.prompt_tokens, 4);
  });

  test('more than 2048 inputs → BadRequestError 400', async () => {
    const input = Array.from({ length: 2049 }, (_, i) => `t${i}`);
    const e = await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input }));
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.status, 400);
    // exactly 2048 is fine
    const r = await oai.embeddings.create({ model: 'text-embedding-3-small', input: input.slice(0, 2048), dimensions: 4 });
    assert.equal(r.data.length, 2048);
  });

  test('too many tokens → 400 (per input and per request)', async () => {
    const longText = ' hello'.repeat(8200); // ~8200 tokens
    const e1 = await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input: longText }));
    assert.ok(e1 instanceof OpenAI.BadRequestError);
    assert.match(e1.message, /maximum context length is 8192/);
    const e2 = await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input: [Array(8193).fill(15)] }));
    assert.equal(e2.status, 400);
    const atLimit = Array(8192).fill(15) as number[];
    const e3 = await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input: Array(37).fill(atLimit) }));
    assert.ok(e3 instanceof OpenAI.BadRequestError);
    assert.equal(e3.code, 'max_tokens_per_request');
    assert.match(e3.message, /Requested 303104 tokens, max 300000/);
  });

  test('empty string / empty array / bad shapes → 400; unknown model → 404', async () => {
    for (const input of ['', ['a', ''], [], [[]], ['a', [1]], [1.5]] as unknown[]) {
      const e = await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input: input as string }));
      assert.equal(e.status, 400, JSON.stringify(input));
    }
    const nf = await rejects(oai.embeddings.create({ model: 'text-embedding-4-huge', input: 'x' }));
    assert.ok(nf instanceof OpenAI.NotFoundError);
    assert.equal(nf.code, 'model_not_found');
  });

  test('stats and seenTexts count only 200 answers', async () => {
    mock.resetStats();
    await oai.embeddings.create({ model: 'text-embedding-3-small', input: ['s1', 's2', 's1'] });
    await oai.embeddings.create({ model: 'text-embedding-3-small', input: 's1' });
    await rejects(oai.embeddings.create({ model: 'text-embedding-3-small', input: ['s1', ''] }));
    assert.equal(mock.stats.requests, 3);
    assert.equal(mock.stats.okRequests, 2);
    assert.equal(mock.stats.inputs, 4);
    assert.equal(mock.stats.rejected400, 1);
    assert.equal(mock.stats.faults, 0);
    assert.equal(mock.seenTexts.get('s1'), 3);
    assert.equal(mock.seenTexts.get('s2'), 1);
    assert.equal(mock.seenTexts.size, 2);
    assert.equal(mock.stats.tokens, mock.requestLog.filter((l) => l.status === 200).reduce((s, l) => s + l.tokens, 0));
    assert.deepEqual(mock.requestLog.map((l) => l.status), [200, 200, 400]);

    const res = await fetch(`${mock.url}/stats`);
    const js = (await res.json()) as { requests: number; okRequests: number; seenTexts: Record<string, number> };
    assert.equal(js.requests, 3);
    assert.equal(js.okRequests, 2);
    assert.deepEqual(js.seenTexts, { s1: 3, s2: 1 });
    const rr = await fetch(`${mock.url}/stats/reset`, { method: 'POST' });
    assert.equal(rr.status, 200);
    await rr.arrayBuffer();
    assert.equal(mock.stats.requests, 0);
    assert.equal(mock.seenTexts.size, 0);
    assert.equal(mock.requestLog.length, 0);
  });
});

describe('faults, limits, auth', () => {
  test('429 with retry-after is a RateLimitError with headers; SDK retries honour it', async () => {
    const mock = await startOpenAIMock({ faults: { rate429: 1, retryAfterSeconds: 0.05 } });
    try {
      const e = await rejects(client(mock).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }));
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.equal(e.type, 'requests');
      assert.equal(e.headers?.get('retry-after'), '0.05');
      assert.equal(e.headers?.get('retry-after-ms'), '50');
      assert.equal(e.headers?.get('x-ratelimit-reset-requests'), '50ms');
      assert.equal(e.headers?.get('x-ratelimit-reset-tokens'), '50ms');
      assert.equal(mock.stats.faults, 1);
      assert.equal(mock.requestLog[0]!.status, 429);
      assert.equal(mock.seenTexts.size, 0);

      // Half the requests fail; the SDK retries (after 50 ms each) and eventually succeeds.
      mock.setFaults({ rate429: 0.5, retryAfterSeconds: 0.05 });
      mock.resetStats();
      const c = client(mock, { maxRetries: 10 });
      const t0 = Date.now();
      for (let i = 0; i < 6; i++) {
        const r = await c.embeddings.create({ model: 'text-embedding-3-small', input: `r${i}` });
        assertSameVector(r.data[0]!.embedding, mockVector(`r${i}`, 1536));
      }
      assert.equal(mock.stats.okRequests, 6);
      assert.ok(mock.stats.faults > 0);
      assert.equal(mock.stats.requests, 6 + mock.stats.faults);
      assert.ok(Date.now() - t0 >= 50 * mock.stats.faults - 5);
    } finally {
      await mock.close();
    }
  });

  test('retry-after 0 sends no retry-after-ms; seeded faults repeat', async () => {
    const statuses: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const mock = await startOpenAIMock({ seed: 42, faults: { rate429: 0.3, rate500: 0.3, retryAfterSeconds: 0 } });
      try {
        const c = client(mock);
        for (let i = 0; i < 12; i++) {
          try {
            await c.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
          } catch (e) {
            if (e instanceof OpenAI.RateLimitError) {
              assert.equal(e.headers?.get('retry-after'), '0');
              assert.equal(e.headers?.get('retry-after-ms'), null);
            } else if (e instanceof OpenAI.InternalServerError) {
              assert.equal(e.status, 500);
              assert.equal(e.type, 'server_error');
            } else throw e;
          }
        }
        statuses.push(mock.requestLog.map((l) => l.status));
        assert.equal(mock.stats.faults, mock.requestLog.filter((l) => l.status !== 200).length);
      } finally {
        await mock.close();
      }
    }
    assert.deepEqual(statuses[0], statuses[1]);
    assert.ok(statuses[0]!.includes(429) && statuses[0]!.includes(500) && statuses[0]!.includes(200));
  });

  test('connection reset → APIConnectionError, logged with status 0', async () => {
    const mock = await startOpenAIMock({ faults: { rateReset: 1 } });
    try {
      await assert.rejects(client(mock).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }), OpenAI.APIConnectionError);
      assert.equal(mock.stats.faults, 1);
      assert.equal(mock.requestLog[0]!.status, 0);
      assert.equal(mock.stats.okRequests, 0);
    } finally {
      await mock.close();
    }
  });

  test('slow fault delays but succeeds', async () => {
    const mock = await startOpenAIMock({ faults: { rateSlow: 1, slowMs: 150 } });
    try {
      const t0 = Date.now();
      await client(mock).embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
      assert.ok(Date.now() - t0 >= 140);
      assert.equal(mock.stats.slow, 1);
      assert.equal(mock.stats.okRequests, 1);
    } finally {
      await mock.close();
    }
  });

  test('tpm / rpm budgets give 429 with x-ratelimit headers', async () => {
    const mock = await startOpenAIMock({ tpm: 10 });
    try {
      const c = client(mock);
      const ok = await c.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3, 4, 5, 6]] });
      assert.equal(ok.usage.prompt_tokens, 6);
      const e = await rejects(c.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3, 4, 5]] }));
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.type, 'tokens');
      assert.equal(e.headers?.get('x-ratelimit-limit-tokens'), '10');
      assert.equal(e.headers?.get('x-ratelimit-remaining-tokens'), '4');
      assert.match(e.headers?.get('x-ratelimit-reset-tokens') ?? '', /^\d+(\.\d+)?(ms|s)$/);
      assert.ok(Number(e.headers?.get('retry-after')) >= 1);
      // still fits
      await c.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3, 4]] });
      assert.equal(mock.stats.rateLimited, 1);
      assert.equal(mock.stats.faults, 0);
    } finally {
      await mock.close();
    }
    const mock2 = await startOpenAIMock({ rpm: 2 });
    try {
      const c = client(mock2);
      await c.embeddings.create({ model: 'text-embedding-3-small', input: 'a' });
      await c.embeddings.create({ model: 'text-embedding-3-small', input: 'b' });
      const e = await rejects(c.embeddings.create({ model: 'text-embedding-3-small', input: 'c' }));
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.headers?.get('x-ratelimit-remaining-requests'), '0');
    } finally {
      await mock2.close();
    }
  });

  test('requireKey', async () => {
    const mock = await startOpenAIMock({ requireKey: 'sk-right' });
    try {
      const bad = await rejects(client(mock).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }));
      assert.ok(bad instanceof OpenAI.AuthenticationError);
      assert.equal(bad.status, 401);
      assert.equal(bad.code, 'invalid_api_key');
      const raw = await fetch(`${mock.url}/embeddings`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(raw.status, 401);
      const js = (await raw.json()) as { error: { type: string } };
      assert.equal(js.error.type, 'invalid_request_error');
      const good = await client(mock, { apiKey: 'sk-right' }).embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
      assert.equal(good.data.length, 1);
      assert.equal(mock.stats.okRequests, 1);
      assert.equal(mock.seenTexts.get('x'), 1);
    } finally {
      await mock.close();
    }
  });

  test('delayMs and quick close with keep-alive connections', async () => {
    const mock = await startOpenAIMock({ delayMs: 30 });
    const c = client(mock);
    const t0 = Date.now();
    await c.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    await c.embeddings.create({ model: 'text-embedding-3-small', input: 'y' });
    assert.ok(Date.now() - t0 >= 55);
    // a request still in flight (slow) must not block close either
    mock.setFaults({ rateSlow: 1, slowMs: 10_000 });
    const pending = c.embeddings.create({ model: 'text-embedding-3-small', input: 'z' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t1 = Date.now();
    await mock.close();
    assert.ok(Date.now() - t1 < 500, `close took ${Date.now() - t1} ms`);
    assert.ok((await pending) instanceof OpenAI.APIConnectionError);
  });
});

describe('standalone mode', () => {
  test('prints the URL, serves /v1/stats, prints stats on SIGTERM', async () => {
    const script = fileURLToPath(new URL('./mocks/openai-mock.js', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'oai-mock-'));
    const portFile = join(dir, 'port');
    const child = spawn(process.execPath, [script, '--port', '0', '--port-file', portFile, '--seed', '3', '--tpm', '1000000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr += d));
      const rl = createInterface({ input: child.stdout });
      const line = await new Promise<string>((resolve, reject) => {
        rl.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`mock exited early (${code}): ${stderr}`)));
      });
      const m = /^openai-mock listening on (http:\/\/127\.0\.0\.1:(\d+)\/v1)$/.exec(line);
      assert.ok(m, line);
      assert.equal(readFileSync(portFile, 'utf8').trim(), m[2]);
      const oai = new OpenAI({ apiKey: 'test', baseURL: m[1], maxRetries: 0 });
      await oai.embeddings.create({ model: 'text-embedding-3-small', input: ['p', 'q'] });
      const st = (await (await fetch(`${m[1]}/stats`)).json()) as { requests: number; seenTexts: Record<string, number> };
      assert.equal(st.requests, 1);
      assert.deepEqual(st.seenTexts, { p: 1, q: 1 });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const last = stderr.trim().split('\n').at(-1)!;
      const stats = JSON.parse(last) as { requests: number; okRequests: number; inputs: number };
      assert.equal(stats.requests, 1);
      assert.equal(stats.okRequests, 1);
      assert.equal(stats.inputs, 2);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
