/**
 * `make demo` is idempotent: a second run re-runs no step and archives nothing (the mock's random port is not
 * part of the fetch parameters), and the search command it prints works as printed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEnv, root, runMake } from './make-util.js';

const work = mkdtempSync(join(tmpdir(), 'make-demo-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a second make demo re-runs no step, archives nothing, and the printed search command works', async () => {
  const e = makeEnv({ DEMO_DIR: join(work, 'ck'), DEMO_PGLITE_DIR: join(work, 'pglite'), DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined });
  const first = await runMake(['demo', 'BUILD_STAMP='], e);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout + first.stderr, /bin\/ct-fetch /);
  const second = await runMake(['demo', 'BUILD_STAMP='], e);
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stdout + second.stderr, /bin\/ct-(fetch|prepare|embed|load) /, 'no step ran again');
  assert.match(second.stderr, /make load: up to date: the 553 records of .* are in clinical_trials/);
  assert.equal(existsSync(join(work, 'ck', 'archive')), false, 'nothing archived');
  const printed = /demo: search it yourself: (bin\/ct-search .*)$/m.exec(second.stderr)?.[1];
  assert.ok(printed, second.stderr);
  const r = spawnSync('bash', ['-c', printed + ' --format ndjson --limit 3'], { cwd: root, env: e, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 3);
});
