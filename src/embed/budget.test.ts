import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './budget.js';

test('starts full, refills at perMinute/60 per second, caps at one minute', async () => {
  let t = 0;
  const b = new TokenBucket(60_000, () => t); // 1,000 tokens per second
  assert.equal(b.waitFor(60_000), 0);
  await b.take(60_000);
  assert.equal(b.waitFor(500), 500);
  t = 250;
  assert.equal(b.waitFor(500), 250);
  t = 10 * 60_000;
  assert.equal(b.waitFor(60_000), 0, 'idle time refills up to the cap only');
  assert.equal(b.waitFor(90_000), 0, 'an oversized request waits for a full bucket, no longer');
});

test('take waits for the budget (real clock)', async () => {
  const b = new TokenBucket(600_000); // 10 tokens per ms
  await b.take(600_000);
  const start = Date.now();
  await b.take(200); // ≈ 20 ms
  assert.ok(Date.now() - start >= 15);
});
