import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs } from './retry.js';

test('parseDurationMs reads the durations of x-ratelimit-reset-* headers', () => {
  assert.equal(parseDurationMs('20ms'), 20);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('6m0s'), 360_000);
  assert.equal(parseDurationMs('1h2m3.5s'), 3_723_500);
  assert.equal(parseDurationMs(' 0s '), 0);
  assert.equal(parseDurationMs(undefined), undefined);
  assert.equal(parseDurationMs(''), undefined);
  assert.equal(parseDurationMs('soon'), undefined);
  assert.equal(parseDurationMs('12'), undefined); // no unit: not a duration
});
