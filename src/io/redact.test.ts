import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactOptions, redactUrl } from './redact.js';

test('redactUrl: the password in user:password@', () => {
  assert.equal(redactUrl('postgres://u:pw@h/db'), 'postgres://u:***@h/db');
  assert.equal(redactUrl('postgres://a:pw@x:5433/y?sslmode=require'), 'postgres://a:***@x:5433/y?sslmode=require');
  assert.equal(redactUrl('https://k:sk-abc@api.example.test/v1'), 'https://k:***@api.example.test/v1');
});

test('redactUrl: a password holding @ (pg reads u:p@ss@h as password p@ss)', () => {
  assert.equal(redactUrl('postgres://u:p@ss@h/db'), 'postgres://u:***@h/db');
  assert.equal(redactUrl('postgres://u:p@s@s@h:5432/db'), 'postgres://u:***@h:5432/db');
  assert.equal(redactUrl('postgres://u:p%40ss@h/db'), 'postgres://u:***@h/db');
});

test('redactUrl: secrets in the query string', () => {
  assert.equal(redactUrl('postgres://h/db?password=secret'), 'postgres://h/db?password=***');
  assert.equal(redactUrl('postgresql://u@h/db?sslmode=require&password=secret'), 'postgresql://u@h/db?sslmode=require&password=***');
  assert.equal(redactUrl('postgres://h/db?sslpassword=secret'), 'postgres://h/db?sslpassword=***');
  assert.equal(redactUrl('socket:/var/run/postgresql?db=x&password=secret'), 'socket:/var/run/postgresql?db=x&password=***');
  assert.equal(redactUrl('http://h/v1?api_key=sk-123'), 'http://h/v1?api_key=***');
});

test('redactUrl: URLs and password= settings inside text; nothing else changes', () => {
  assert.equal(
    redactUrl('cannot connect to postgres://u:pw@h/db: refused'),
    'cannot connect to postgres://u:***@h/db: refused',
  );
  assert.equal(redactUrl('host=h dbname=d password=secret user=u'), 'host=h dbname=d password=*** user=u');
  assert.equal(redactUrl("host=h password='s e c'"), 'host=h password=***');
  for (const s of ['postgres://u@h/db', 'postgres://h/db?sslmode=require', 'data/pglite', 'clinical_trials', 'https://clinicaltrials.gov/api/v2']) {
    assert.equal(redactUrl(s), s);
  }
});

test('redactUrl: malformed URLs still lose their password', () => {
  assert.equal(redactUrl('postgres://u:pw@h:notaport/db'), 'postgres://u:***@h:notaport/db');
  assert.doesNotMatch(redactUrl('postgres://u:p@ss@[bad/db'), /p@ss|ss@/);
});

test('redactOptions: secret-named options masked, URLs redacted, repeated options (arrays) too', () => {
  const out = redactOptions({
    _: [], $0: 'x', 'database-url': ['postgres://u:one@h/db', 'postgres://h/db?password=two'], databaseUrl: 'dup',
    'api-key': 'sk-1', table: 't', o: 'short',
  });
  assert.deepEqual(out, { 'database-url': ['postgres://u:***@h/db', 'postgres://h/db?password=***'], 'api-key': '***', table: 't' });
  assert.doesNotMatch(JSON.stringify(out), /one|two|sk-1/);
});

test('errorText: error messages reaching stderr lose URL passwords too', async () => {
  const { errorText } = await import('./errors.js');
  assert.equal(errorText(new Error('connect to postgres://u:p@ss@h/db?password=x failed')), 'connect to postgres://u:***@h/db?password=*** failed');
});
