import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, parseRetryAfter, retryDelay, sleep, Pacer } from './retry.js';

describe('backoffDelay', () => {
  test('grows exponentially up to maxMs, scaled by the random draw', () => {
    const top = () => 0.999999;
    assert.equal(backoffDelay(0, { baseMs: 100, random: top }), 99);
    assert.equal(backoffDelay(3, { baseMs: 100, random: top }), 799);
    assert.equal(backoffDelay(20, { baseMs: 100, maxMs: 5000, random: top }), 4999);
  });
  test('full jitter: a zero draw gives zero delay', () => {
    assert.equal(backoffDelay(5, { random: () => 0 }), 0);
  });
  test('stays within [0, cap) for real randomness', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(4, { baseMs: 10, maxMs: 1000 });
      assert.ok(d >= 0 && d < 160, String(d));
    }
  });
});

describe('parseRetryAfter', () => {
  test('delay-seconds', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    assert.equal(parseRetryAfter('1.5'), 1500);
  });
  test('HTTP-date relative to now, never negative', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
  });
  test('absent or garbage → undefined', () => {
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter(''), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter('-5'), undefined);
  });
});

describe('retryDelay', () => {
  test('prefers Retry-After, capped', () => {
    assert.equal(retryDelay(0, 2000, { random: () => 0.5 }), 2000);
    assert.equal(retryDelay(0, 10 ** 9, { maxRetryAfterMs: 60_000 }), 60_000);
  });
  test('falls back to backoff', () => {
    assert.equal(retryDelay(2, undefined, { baseMs: 100, random: () => 0.5 }), 200);
  });
});

describe('sleep', () => {
  test('resolves after the delay', async () => {
    await sleep(1);
  });
  test('rejects when aborted', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
  });
  test('rejects at once for an already-aborted signal', async () => {
    await assert.rejects(sleep(60_000, AbortSignal.abort(new Error('gone'))), /gone/);
  });
});

describe('Pacer', () => {
  test('hands out start slots intervalMs apart (fake clock)', () => {
    let t = 1000;
    const pacer = new Pacer(10, () => t);
    assert.equal(pacer.intervalMs, 100);
    assert.equal(pacer.reserve(), 0); // slot 1000
    assert.equal(pacer.reserve(), 100); // slot 1100
    assert.equal(pacer.reserve(), 200); // slot 1200: callers queue in order
    t = 5000; // long idle: no catch-up burst
    assert.equal(pacer.reserve(), 0);
    assert.equal(pacer.reserve(), 100);
    pacer.delayUntil(7000);
    assert.equal(pacer.reserve(), 2000);
    pacer.delayUntil(0); // never moves the slot earlier
    assert.equal(pacer.reserve(), 2100);
  });
  test('rate 0 / Infinity disables pacing', async () => {
    assert.equal(new Pacer(0).intervalMs, 0);
    assert.equal(new Pacer(Infinity).intervalMs, 0);
  });
  test('actually waits between calls', async () => {
    const pacer = new Pacer(50); // 20 ms
    const start = Date.now();
    await pacer.wait();
    await pacer.wait();
    await pacer.wait();
    assert.ok(Date.now() - start >= 35, 'two intervals elapsed');
  });
});
