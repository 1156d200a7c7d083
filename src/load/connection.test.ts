import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTarget } from './connection.js';

const base = { pgliteDir: 'data/pglite', applicationName: 'ct-load' };

test('--database-url, then DATABASE_URL, then PG* variables, then PGlite; never a password in the label', () => {
  const env = { DATABASE_URL: 'postgres://u:secret@h/db', PGHOST: 'pghost' };
  assert.deepEqual(chooseTarget({ ...base, databaseUrl: 'postgres://a:pw@x/y?sslmode=require', env }), {
    kind: 'postgres', url: 'postgres://a:pw@x/y?sslmode=require', label: 'postgres://a:***@x/y?sslmode=require',
  });
  assert.equal(chooseTarget({ ...base, env }).label, 'postgres://u:***@h/db');
  const pgEnv = chooseTarget({ ...base, env: { PGHOST: 'pghost', PGDATABASE: 'd', PGPASSWORD: 'secret' } });
  assert.equal(pgEnv.kind, 'postgres');
  assert.ok(!('url' in pgEnv && pgEnv.url));
  assert.doesNotMatch(pgEnv.label, /secret/);
  assert.deepEqual(chooseTarget({ ...base, env: {} }), { kind: 'pglite', dir: 'data/pglite', label: 'PGlite at data/pglite' });
});
