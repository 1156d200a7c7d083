import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countTokens, fitTokens, MAX_INPUT_TOKENS } from './tokens.js';

test('counts cl100k_base tokens; special-token text is plain text', () => {
  assert.equal(countTokens('hello world'), 2);
  assert.equal(countTokens(''), 0);
  assert.ok(countTokens('a <|endoftext|> b') > 3);
});

test('fitTokens leaves short texts alone and truncates long ones to the limit', () => {
  assert.deepEqual(fitTokens('hello world', 10), { text: 'hello world', tokens: 2, truncated: false });
  const long = 'lorem ipsum dolor sit amet '.repeat(3000);
  const f = fitTokens(long);
  assert.equal(f.truncated, true);
  assert.ok(f.tokens <= MAX_INPUT_TOKENS && f.tokens >= MAX_INPUT_TOKENS - 2);
  assert.equal(countTokens(f.text), f.tokens);
  assert.ok(long.startsWith(f.text));
});

test('fitTokens never exceeds the limit with multi-byte text', () => {
  const f = fitTokens('日本語のテキスト😀'.repeat(500), 100);
  assert.ok(f.tokens <= 100);
  assert.equal(countTokens(f.text), f.tokens);
});
