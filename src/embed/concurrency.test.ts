import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveConcurrency } from './concurrency.js';

test('halves once per wave of 429s, grows by one per round of successes, capped', () => {
  let t = 0;
  const c = new AdaptiveConcurrency(8, () => t);
  assert.equal(c.current, 8);
  t = 10;
  c.onThrottle(5);
  assert.equal(c.current, 4);
  c.onThrottle(6); // started before the cut: same wave
  assert.equal(c.current, 4);
  t = 20;
  c.onThrottle(15); // a later request throttled again
  assert.equal(c.current, 2);
  c.onThrottle(15);
  t = 30;
  c.onThrottle(25);
  c.onThrottle(25);
  assert.equal(c.current, 1, 'never below one');
  c.onSuccess();
  assert.equal(c.current, 2);
  c.onSuccess();
  c.onSuccess();
  assert.equal(c.current, 3);
  for (let i = 0; i < 100; i++) c.onSuccess();
  assert.equal(c.current, 8, 'never above the maximum');
});

test('runs no more tasks at once than the current limit', async () => {
  const c = new AdaptiveConcurrency(2);
  let running = 0;
  let peak = 0;
  const task = async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
  };
  await Promise.all(Array.from({ length: 6 }, () => c.run(task)));
  assert.equal(peak, 2);
});
