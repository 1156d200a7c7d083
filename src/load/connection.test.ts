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

test('a malformed database URL is a usage error naming its source, with no password in it', () => {
  const env = {};
  for (const bad of ['notaurl', 'localhost:5432/db', 'http://h/db', 'postgres//u:pw@h/db', 'postgres://u:pw@h:port/db']) {
    assert.throws(() => chooseTarget({ ...base, databaseUrl: bad, env }), (e: Error) => {
      assert.equal(e.name, 'UsageError');
      assert.match(e.message, /^--database-url: not a postgres:\/\/ URL: /);
      assert.doesNotMatch(e.message, /pw/);
      return true;
    });
  }
  assert.throws(() => chooseTarget({ ...base, env: { DATABASE_URL: 'notaurl' } }), /^UsageError: DATABASE_URL: not a postgres:\/\/ URL: notaurl$/);
  for (const good of ['postgres://u:p@ss@h/db', 'postgresql://h/db?password=x', 'postgres:///db', 'socket:/var/run/postgresql?db=x', '/var/run/postgresql db']) {
    assert.equal(chooseTarget({ ...base, databaseUrl: good, env }).kind, 'postgres');
  }
});
