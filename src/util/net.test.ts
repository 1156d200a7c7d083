/** The network failure rules shared by ct-fetch, ct-embed and ct-load. DNS failures are injected errors: no lookups. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StudiesClient } from '../fetch/client.js';
import { RuntimeError } from '../io/errors.js';
import { AdaptiveConcurrency } from '../embed/concurrency.js';
import type { Provider } from '../embed/providers/types.js';
import { classify } from '../embed/providers/openai.js';
import { Sender } from '../embed/sender.js';
import OpenAI from 'openai';
import { FirstContact, checkHttpUrl, unreachableReason } from './net.js';

const errno = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${code} boom`), { code, ...extra });
/** What undici's fetch throws: `TypeError: fetch failed` with the system error as its cause. */
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });
const dnsError = (code = 'ENOTFOUND') => fetchFailed(errno(code, { syscall: 'getaddrinfo', hostname: 'clinicaltrials.gov' }));
const quick = () => new FirstContact({ delayMs: () => 5 });

test('unreachableReason: DNS, refused and unreachable in words with the host; other failures are not "unreachable"', () => {
  assert.equal(unreachableReason(dnsError()), 'cannot resolve clinicaltrials.gov (DNS: ENOTFOUND)');
  assert.equal(unreachableReason(dnsError('EAI_AGAIN')), 'cannot resolve clinicaltrials.gov (DNS: EAI_AGAIN)');
  assert.equal(unreachableReason(fetchFailed(errno('ECONNREFUSED', { address: '127.0.0.1', port: 1 }))), 'connection refused by 127.0.0.1:1');
  // Happy eyeballs: an AggregateError holding one error per address
  const agg = new AggregateError([errno('ECONNREFUSED', { address: '::1', port: 5432 }), errno('ECONNREFUSED', { address: '127.0.0.1', port: 5432 })]);
  assert.equal(unreachableReason(agg), 'connection refused by ::1:5432');
  assert.equal(unreachableReason(errno('EHOSTUNREACH'), { host: 'db.example.test', port: 5432 }), 'cannot reach db.example.test:5432 (EHOSTUNREACH)');
  for (const other of [fetchFailed(errno('ECONNRESET')), new Error('timeout'), errno('ETIMEDOUT'), undefined]) {
    assert.equal(unreachableReason(other), undefined);
  }
});

test('checkHttpUrl: a malformed URL is a usage error naming the option, without a password', () => {
  assert.equal(checkHttpUrl('http://127.0.0.1:1/v1', '--base-url'), 'http://127.0.0.1:1/v1');
  for (const bad of ['not-a-url', 'clinicaltrials.gov/api/v2', 'ftp://h/x', 'http://', 'localhost:8080']) {
    assert.throws(() => checkHttpUrl(bad, 'CT_API_URL'), (e: Error) => e.name === 'UsageError' && e.message === `CT_API_URL: not an http(s) URL: ${bad}`);
  }
  assert.throws(() => checkHttpUrl('htp://u:pw@h', '--base-url'), (e: Error) => !e.message.includes('pw'));
});

test('FirstContact: a few quick retries within the budget, none once the server has answered', () => {
  let now = 0;
  const c = new FirstContact({ now: () => now });
  c.attempt();
  const waits: number[] = [];
  for (;;) {
    const r = c.onUnreachable();
    assert.ok(r);
    if (r.stop) break;
    waits.push(r.waitMs);
    now += r.waitMs + 100;
  }
  assert.deepEqual(waits, [500, 1000, 2000]);
  const slow = new FirstContact({ now: () => now });
  slow.attempt();
  now += 7_000; // one lookup that took 7 s (resolver timeout): only one more quick try fits in the budget
  assert.deepEqual(slow.onUnreachable(), { stop: false, waitMs: 500 });
  now += 2_000;
  assert.deepEqual(slow.onUnreachable(), { stop: true });
  const answered = new FirstContact();
  answered.answered();
  assert.equal(answered.onUnreachable(), undefined);
});

test('ct-fetch client: a name that does not resolve fails fast with the host and the cause', async () => {
  let calls = 0;
  const c = new StudiesClient({
    baseUrl: 'https://clinicaltrials.gov/api/v2', rate: 0, timeoutMs: 1000, maxRetries: 8, retryDelayMs: 1000, firstContact: quick(),
    fetch: async () => {
      calls++;
      throw dnsError('EAI_AGAIN');
    },
  });
  const t0 = Date.now();
  await assert.rejects(c.list({}, 1), (e: Error) => {
    assert.ok(e instanceof RuntimeError);
    assert.match(e.message, /^cannot resolve clinicaltrials\.gov \(DNS: EAI_AGAIN\) \(4 attempts in \d+\.\d s\)$/);
    return true;
  });
  assert.equal(calls, 4);
  assert.ok(Date.now() - t0 < 2000);
});

test('ct-fetch client: once the server has answered, connection failures get the patient retries (--max-retries)', async () => {
  let calls = 0;
  const c = new StudiesClient({
    baseUrl: 'http://127.0.0.1:1/api/v2', rate: 0, timeoutMs: 1000, maxRetries: 5, retryDelayMs: 1, firstContact: quick(),
    fetch: async () => {
      calls++;
      if (calls === 1) return new Response('busy', { status: 503 });
      throw fetchFailed(errno('ECONNREFUSED', { address: '127.0.0.1', port: 1 }));
    },
  });
  await assert.rejects(c.list({}, 3), /^RuntimeError: page 3: giving up after 6 attempts \(--max-retries 5\): connection refused by 127\.0\.0\.1:1$/);
  assert.equal(calls, 6);
});

/** A provider that throws the SDK's connection error for `cause` (after `answers` good answers). */
function failing(cause: unknown, answers = 0): Provider & { calls: number } {
  const p = {
    name: 'openai', model: 'm', dims: 2, remote: true, calls: 0,
    async embed(texts: string[]) {
      p.calls++;
      if (p.calls <= answers) return texts.map(() => Float32Array.from([1, 2]));
      throw classify(new OpenAI.APIConnectionError({ cause: cause as Error }), (s) => s, 'http://127.0.0.1:1/v1');
    },
  };
  return p;
}

test('ct-embed sender: a server never reached stops the run with the cause; no record is blamed', async () => {
  const p = failing(fetchFailed(errno('ECONNREFUSED', { address: '127.0.0.1', port: 1 })));
  const s = new Sender({ provider: p, concurrency: new AdaptiveConcurrency(1), maxRetries: 8, random: () => 0, firstContact: quick() });
  await assert.rejects(s.send(['a'], [1]), /^RuntimeError: connection refused by 127\.0\.0\.1:1 \(no answer in \d+\.\d s\)$/);
  assert.equal(p.calls, 4);
  const dns = failing(dnsError());
  const s2 = new Sender({ provider: dns, concurrency: new AdaptiveConcurrency(1), maxRetries: 8, random: () => 0, firstContact: quick() });
  await assert.rejects(s2.send(['a'], [1]), /cannot resolve clinicaltrials\.gov \(DNS: ENOTFOUND\)/);
});

test('ct-embed sender: after answers, a lost server gets the patient retries, then stops the run (records not rejected)', async () => {
  const p = failing(fetchFailed(errno('ECONNRESET')), 1);
  const s = new Sender({ provider: p, concurrency: new AdaptiveConcurrency(1), maxRetries: 2, random: () => 0, firstContact: quick() });
  assert.ok((await s.send(['a'], [1]))[0] instanceof Float32Array);
  await assert.rejects(s.send(['b'], [1]), (e: Error) => e instanceof RuntimeError && /^gave up after 3 attempts \(--max-retries 2\): connection error/.test(e.message));
  assert.equal(p.calls, 4);
});
