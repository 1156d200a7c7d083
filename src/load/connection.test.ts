import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesBlob, chooseTarget } from './connection.js';

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

test('bytesBlob: a Blob whose arrayBuffer() is exactly the bytes (also for a view into a larger buffer); other reads throw', async () => {
  const whole = Buffer.from(new ArrayBuffer(3)).fill(7); // a Buffer over that ArrayBuffer, whole
  const b = bytesBlob(whole);
  assert.ok(b instanceof Blob);
  assert.equal(b.size, 3);
  assert.equal(await b.arrayBuffer(), whole.buffer, 'not copied');
  const view = Buffer.from('hello'); // a slice of Node's shared buffer pool
  assert.notEqual(view.buffer.byteLength, view.length);
  const v = bytesBlob(view);
  assert.equal(v.size, 5);
  assert.equal(Buffer.from(await v.arrayBuffer()).toString(), 'hello');
  assert.throws(() => v.stream(), /arrayBuffer/);
  assert.throws(() => v.text(), /arrayBuffer/);
});
