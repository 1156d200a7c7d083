/**
 * New PGlite databases are copies of a template (pglite-template.ts): made once, lazily or by the build, in a
 * child process and atomically; copied under the directory's lock with PG_VERSION last. These tests run the
 * compiled ct-load, each with a template directory of its own (CT_PGLITE_TEMPLATE).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { prepareStudy } from '../prepare.js';
import { pgliteExists } from './connection.js';
import { openPglite, PGLITE_SHARED_BUFFERS } from './pglite-template.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ct-pglite-template-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const input =
  readFileSync(join(root, 'test/fixtures/studies-sample.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.stringify(prepareStudy(JSON.parse(l) as Record<string, unknown>, { raw: false })))
    .join('\n') + '\n';
const ROWS = input.trim().split('\n').length;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const inputFile = join(tmp, 'input.ndjson');
writeFileSync(inputFile, input);

/** Spawn a compiled tool (stdin: nothing; give input files as arguments) with its own template directory. */
function start(tool: string, args: string[], template: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: process.env.HOME, CT_PGLITE_TEMPLATE: template };
  const child = spawn(process.execPath, [join(root, 'bin', tool), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** `quiet`: -q (no summary, no notes). */
const load = (dir: string, template: string, quiet = true) => start('ct-load', [inputFile, '--pglite-dir', dir, '--create-table', ...(quiet ? ['-q'] : [])], template);

async function query<T>(dir: string, sql: string, first?: string): Promise<T[]> {
  const db = await openPglite(dir);
  try {
    if (first) await db.query(first);
    return (await db.query<T>(sql)).rows;
  } finally {
    await db.close();
  }
}

const siblings = (template: string) => readdirSync(join(template, '..')).filter((n) => n.startsWith(`${template.split('/').at(-1)}.`));
/** A pid that ran a moment ago and has exited. */
const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

const template = join(tmp, 'cache', 'template');

test('the first new database makes the template; later ones are copies of it, working databases with pgvector', async () => {
  mkdirSync(join(tmp, 'cache'));
  const abandoned = `${template}.tmp-${deadPid()}`; // left by a maker that was killed
  mkdirSync(abandoned);
  const first = await load(join(tmp, 'a'), template).done;
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stderr, '');
  assert.ok(pgliteExists(template), 'the template was made');
  assert.ok(!existsSync(join(template, '.ct-lock')) && !existsSync(join(template, 'postmaster.pid')));
  assert.deepEqual(siblings(template), [], 'no temporary copy left, the abandoned one removed');

  // A file only the template has: the next new directory must be a copy of it.
  writeFileSync(join(template, 'ct-test-marker'), 'from the template\n');
  const second = await load(join(tmp, 'b'), template).done;
  assert.equal(second.code, 0, second.stderr);
  assert.equal(readFileSync(join(tmp, 'b', 'ct-test-marker'), 'utf8'), 'from the template\n');
  assert.ok(!existsSync(join(tmp, 'b', 'PG_VERSION.ct-tmp')));
  const [row] = await query<{ n: number; ext: string; d: number; sb: string }>(
    join(tmp, 'b'),
    `SELECT (SELECT count(*)::int FROM clinical_trials) AS n, (SELECT extname FROM pg_extension WHERE extname = 'vector') AS ext,
            '[1,0,0]'::vector <=> '[0,1,0]'::vector AS d, current_setting('shared_buffers') AS sb`,
    'CREATE EXTENSION IF NOT EXISTS vector',
  );
  assert.deepEqual(row, { n: ROWS, ext: 'vector', d: 1, sb: PGLITE_SHARED_BUFFERS });
});

test('a SIGKILL during the copy leaves no database (readers say so); the next run copies again and completes', async () => {
  // A bigger template makes the copy last long enough to be caught in the middle.
  const padded = join(tmp, 'padded');
  cpSync(template, padded, { recursive: true });
  mkdirSync(join(padded, 'ct-test-padding'));
  const page = Buffer.alloc(8192, 1);
  for (let i = 0; i < 3000; i++) writeFileSync(join(padded, 'ct-test-padding', `f${i}`), page);

  // Each kill is followed by a rerun, which must complete whatever the kill left; until one kill landed
  // before PG_VERSION was written (a kill after it is a complete copy).
  let halfway = false;
  for (let attempt = 0; attempt < 5 && !halfway; attempt++) {
    const dir = join(tmp, `killed-${attempt}`);
    const { child, done } = load(dir, padded);
    // Poll without yielding: kill it as soon as the copy has begun.
    const deadline = Date.now() + 60_000;
    const begun = () => existsSync(dir) && readdirSync(dir).some((n) => !n.startsWith('.ct-lock'));
    while (!begun() && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    assert.ok(begun(), 'the copy had begun');
    halfway = !existsSync(join(dir, 'PG_VERSION'));
    if (halfway) {
      const reader = await start('ct-search', ['cancer', '--pglite-dir', dir], padded).done;
      assert.equal(reader.code, 1);
      assert.match(reader.stderr, /^ct-search: .*killed-\d: took over the lock of ct-load, pid \d+ .*which no longer runs$/m);
      assert.match(reader.stderr, /^ct-search: no database at .*killed-\d \(load one with ct-load --create-table/m);
    }
    const again = await load(dir, padded).done;
    assert.equal(again.code, 0, again.stderr);
    const [row] = await query<{ n: number }>(dir, 'SELECT count(*)::int AS n FROM clinical_trials');
    assert.equal(row.n, ROWS);
  }
  assert.ok(halfway, 'a kill landed during the copy');
});

test('two processes creating the same new directory at once: one database; the second is refused, or finds it made', async () => {
  const dir = join(tmp, 'race');
  const results = await Promise.all([load(dir, template).done, load(dir, template).done]);
  assert.ok(results.some((r) => r.code === 0), results.map((r) => r.stderr).join('\n'));
  for (const r of results) {
    if (r.code !== 0) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^ct-load: .*race is in use by ct-load, pid \\d+ .*PGlite allows one process at a time`, 'm'));
    }
  }
  assert.ok(!existsSync(join(dir, '.ct-lock')) && !existsSync(join(dir, 'PG_VERSION.ct-tmp')));
  const [row] = await query<{ n: number }>(dir, 'SELECT count(*)::int AS n FROM clinical_trials');
  assert.equal(row.n, ROWS);
});

test('two processes making the template at once both succeed, and there is one template', async () => {
  const t = join(tmp, 'cache', 'template-race');
  const results = await Promise.all([load(join(tmp, 'tr1'), t, false).done, load(join(tmp, 'tr2'), t, false).done]);
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /could not make/);
  }
  assert.ok(pgliteExists(t));
  assert.deepEqual(siblings(t), []);
  for (const d of ['tr1', 'tr2']) assert.equal((await query<{ n: number }>(join(tmp, d), 'SELECT count(*)::int AS n FROM clinical_trials'))[0].n, ROWS);
});

test('a template that cannot be made: the tool says why, and PGlite initialises the directory itself', async () => {
  const blocker = join(tmp, 'not-a-folder');
  writeFileSync(blocker, '');
  const r = await load(join(tmp, 'fallback'), join(blocker, 'template'), false).done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^ct-load: could not make the PGlite template .*not-a-folder\/template \(Error: .*\); the new database is initialised in place \(slower\)$/m);
  const [row] = await query<{ n: number }>(join(tmp, 'fallback'), 'SELECT count(*)::int AS n FROM clinical_trials');
  assert.equal(row.n, ROWS);
});
