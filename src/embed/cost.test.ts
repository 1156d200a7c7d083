import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtCost, pricePerMillion } from './cost.js';

test('price table, override, unknown', () => {
  assert.equal(pricePerMillion('openai', 'text-embedding-3-small'), 0.02);
  assert.equal(pricePerMillion('openai', 'text-embedding-3-large', 1), 1);
  assert.equal(pricePerMillion('openai', 'nomic-embed-text'), undefined);
  assert.equal(pricePerMillion('hash', 'fh-v2'), 0);
  assert.equal(fmtCost(50_000_000, 0.02), '$1.00');
  assert.equal(fmtCost(1000, 0.02), '$0.000020');
  assert.equal(fmtCost(0, 0.02), '$0.00');
  assert.match(fmtCost(1, undefined), /unknown/);
});
