/**
 * The Makefile operated for real: secrets never reach a command line, a file or a log line; one writer per
 * checkpoint folder; the destructive targets touch only folders the pipeline made; variables reach the tools
 * intact; a failed resumed fetch does not block a run with other parameters; an up-to-date load says so.
 *
 * Local mocks (ClinicalTrials.gov, OpenAI) and the real Postgres (trust auth: any password is accepted).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudies, startCtgovMock, type CtgovMock } from './mocks/ctgov-mock.js';
import { startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';
import { PG_URL, dropTables, killGroup, makeEnv, root, runMake, startMake, waitFor, withDb } from './make-util.js';

const work = mkdtempSync(join(tmpdir(), 'make-safety-'));
const studies = loadStudies(join(root, 'test', 'fixtures', 'studies-sample.ndjson'));
const prefix = `safety_${process.pid}_`;
const PASSWORD = 'S3cretPw-7q2x';
const API_KEY = 'sk-leaktest-9Zq81xYw';

let ctgov: CtgovMock;
let openai: OpenAIMock;

/** PG_URL with a user and a password (trust auth ignores it), optionally at another port. */
function urlWithPassword(password = PASSWORD, port?: number): string {
  const u = new URL(PG_URL);
  u.username ||= 'postgres';
  u.password = password;
  if (port !== undefined) u.port = String(port);
  return u.toString();
}

function vars(ck: string, table: string, extra: string[] = []): string[] {
  return [
    'BUILD_STAMP=', `CHECKPOINT_DIR=${ck}`, `CT_API_URL=${ctgov.url}`, 'START_YEAR=', `TABLE=${table}`, 'EMBED_PROVIDER=openai',
    'FETCH_FLAGS=--page-size 5 --rate 20 --retry-delay 0.05', 'EMBED_FLAGS=--batch-size 8', ...extra,
  ];
}

function env(databaseUrl = urlWithPassword()): NodeJS.ProcessEnv {
  return makeEnv({ DATABASE_URL: databaseUrl, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: API_KEY, CT_TEST_DATABASE_URL: undefined });
}

/** Every file under dir (recursively). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

/** The command lines of every process on the machine (those we may read). */
function cmdlines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Run make while sampling every process's command line; the samples that mention the tools are returned too. */
async function runWatched(args: string[], e: NodeJS.ProcessEnv) {
  const { done } = startMake(args, e);
  const seen = new Set<string>();
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    for (const c of cmdlines()) if (c.includes('ct-') || c.includes(PASSWORD) || c.includes(API_KEY)) seen.add(c);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { ...(await done), cmdlines: [...seen] };
}

function assertNoSecret(where: string, text: string): void {
  assert.ok(!text.includes(PASSWORD), `${where} holds the database password`);
  assert.ok(!text.includes(API_KEY), `${where} holds the API key`);
}

before(async () => {
  ctgov = await startCtgovMock({ studies });
  openai = await startOpenAIMock({ delayMs: 60 });
});

after(async () => {
  await ctgov?.close();
  await openai?.close();
  await dropTables(prefix);
  rmSync(work, { recursive: true, force: true });
});

describe('secrets: no password or API key on a command line, in a file under the checkpoints or in the output', () => {
  const ck = join(work, 'secret');
  const table = `${prefix}secret`;

  test('a whole make load, a failing one, a dry run', async () => {
    const r = await runWatched(['load', ...vars(ck, table, ['SKIP_EXISTING=1'])], env());
    assert.equal(r.status, 0, r.stderr);
    for (const tool of ['ct-fetch', 'ct-prepare', 'ct-embed', 'ct-load']) {
      assert.ok(r.cmdlines.some((c) => c.includes(`bin/${tool}`)), `${tool}'s command line was sampled while it ran`);
    }
    for (const c of r.cmdlines) assertNoSecret(`the command line ${c.slice(0, 200)}`, c);
    assertNoSecret('the output', r.stdout + r.stderr);
    assert.match(r.stderr, /ct-load: 40 in, 40 inserted/);

    // A failing run: the database refuses (a closed local port), and then the provider rejects the key.
    const downCk = join(work, 'secret-down');
    const down = await runWatched(['load', ...vars(downCk, table, ['LOAD_FLAGS=--max-retries 0'])], env(urlWithPassword(PASSWORD, 1)));
    assert.notEqual(down.status, 0);
    assert.match(down.stderr, /ct-load: /);
    for (const f of filesUnder(downCk)) assertNoSecret(f, readFileSync(f, 'latin1'));
    for (const c of down.cmdlines) assertNoSecret(`the command line ${c.slice(0, 200)}`, c);
    assertNoSecret('the output of the failing run', down.stdout + down.stderr);
    const strict = await startOpenAIMock({ requireKey: 'sk-the-right-one' });
    try {
      const e401 = { ...env(), OPENAI_BASE_URL: strict.url };
      const bad = await runWatched(['load', ...vars(join(work, 'secret-401'), table, ['EMBED_FLAGS=--max-retries 0'])], e401);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /ct-embed: /);
      assertNoSecret('the output of the run the provider refused', bad.stdout + bad.stderr);
      for (const f of filesUnder(join(work, 'secret-401'))) assertNoSecret(f, readFileSync(f, 'latin1'));
    } finally {
      await strict.close();
    }

    const dry = await runMake(['-n', 'load', ...vars(join(work, 'secret-dry'), table, ['SKIP_EXISTING=1'])], env());
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /bin\/ct-load /);
    assertNoSecret('make -n', dry.stdout + dry.stderr);
    assert.equal(existsSync(join(work, 'secret-dry')), false, 'make -n writes no file');

    const files = filesUnder(ck);
    assert.ok(files.some((f) => f.endsWith('.params/load')) && files.some((f) => f.endsWith('embed.ndjson.meta.json')), files.join('\n'));
    for (const f of files) assertNoSecret(f, readFileSync(f, 'latin1'));
    const id = readFileSync(join(ck, '.params', 'load'), 'utf8');
    const u = new URL(PG_URL);
    assert.ok(id.includes(`db=postgres://${u.username || 'postgres'}@${u.hostname}:${u.port || 5432}${u.pathname}/${table}`), id);
  });

  test('a password change re-runs nothing, and the up-to-date load says so', async () => {
    const r = await runMake(['load', ...vars(ck, table, ['SKIP_EXISTING=1'])], env(urlWithPassword('another-Pw-99')));
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /bin\/ct-/, 'no step ran again');
    assert.match(r.stderr, new RegExp(`make load: up to date: the 40 records of .*embed\\.ndjson are in ${table}`));
  });

  test('the database identity ignores the password in every form pg accepts', async () => {
    const cases: Array<[string, string]> = [
      ['postgres://app:p@ss@db.example:6543/trials', 'postgres://app@db.example:6543/trials/t'],
      ['postgres://app@db.example/trials?password=secret&sslmode=require', 'postgres://app@db.example:5432/trials/t'],
      ['postgresql://app:secret@[::1]:5433/trials', 'postgres://app@[::1]:5433/trials/t'],
    ];
    for (const [url, want] of cases) {
      const r = spawnSync('node', ['scripts/make-helper.mjs', 'db-id', 'data/pglite', 't'], { cwd: root, env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), want.replace('[::1]', '::1'), url);
    }
  });
});

describe('one writer per checkpoint folder', () => {
  test('a second make load (or make update) is refused at once, naming the holder; the first finishes', async () => {
    const ck = join(work, 'lock');
    const table = `${prefix}lock`;
    const first = startMake(['load', ...vars(ck, table, ['FETCH_FLAGS=--page-size 2 --rate 8'])], env());
    assert.ok(await waitFor(() => existsSync(join(ck, '.lock')) && /pid \d+/.test(readFileSync(join(ck, '.lock'), 'utf8'))), 'the lock is taken');
    const holder = readFileSync(join(ck, '.lock'), 'utf8').trim();
    assert.match(holder, /^make load, pid \d+$/);
    for (const target of ['load', 'update', 'clean']) {
      const second = await runMake([target, ...vars(ck, table)], env());
      assert.equal(second.status, 2, second.stderr); // the recipe exits 1; make reports a failed recipe with 2
      assert.match(second.stderr, new RegExp(`make ${target}: ${ck} is in use by ${holder}`));
      assert.equal(first.child.exitCode, null, `refused while the first still runs (${target})`);
    }
    const r = await first.done;
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await withDb(async (c) => (await c.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n), studies.length);
  });

  test('make update refuses when the table is gone, and creates none', async () => {
    const ck = join(work, 'lock'); // loaded by the test above; it has an update cursor
    const table = `${prefix}lock`;
    assert.ok(existsSync(join(ck, 'update', 'cursor')));
    await withDb((c) => c.query(`DROP TABLE "${table}"`));
    const r = await runMake(['update', ...vars(ck, table)], env());
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`make update: ${table} is empty or missing: run make load first`));
    assert.equal(await withDb(async (c) => (await c.query(`SELECT to_regclass($1) AS t`, [table])).rows[0].t), null);
  });

  test('a lock left by a SIGKILLed make is taken over', async () => {
    const ck = join(work, 'lock-killed');
    const table = `${prefix}lockkill`;
    const first = startMake(['load', ...vars(ck, table, ['FETCH_FLAGS=--page-size 2 --rate 8'])], env());
    assert.ok(await waitFor(() => existsSync(join(ck, 'fetch.ndjson.partial'))), 'the fetch runs');
    killGroup(first.child);
    await first.done;
    assert.match(readFileSync(join(ck, '.lock'), 'utf8'), /^make load, pid \d+/, 'the dead holder is still named in the file');
    // The killed run's processes may still be exiting when the next make starts: a dead holder's lock is waited for.
    const dead = spawnSync('true').pid;
    const straggler = spawn('flock', [join(ck, '.lock'), 'sleep', '1.5'], { stdio: 'ignore' });
    assert.ok(await waitFor(() => spawnSync('flock', ['-n', join(ck, '.lock'), 'true']).status !== 0), 'the straggler holds the lock');
    writeFileSync(join(ck, '.lock'), `make load, pid ${dead}\n`);
    const r = await runMake(['load', ...vars(ck, table, ['FETCH_FLAGS=--page-size 2 --rate 8'])], env());
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /in use by/);
    assert.notEqual(straggler.exitCode, null, 'make waited for the straggler');
  });
});

describe('the destructive targets touch only folders the pipeline made', () => {
  test('make clean CHECKPOINT_DIR=. in a copy of the repository refuses and removes nothing', async () => {
    const copy = join(work, 'repo-copy');
    for (const d of ['src', '.git', 'scripts', 'node_modules']) mkdirSync(join(copy, d), { recursive: true });
    copyFileSync(join(root, 'Makefile'), join(copy, 'Makefile'));
    writeFileSync(join(copy, 'src', 'keep.ts'), 'x');
    writeFileSync(join(copy, '.git', 'HEAD'), 'x');
    const before = filesUnder(copy).sort();
    for (const target of ['clean', 'clean-checkpoints']) {
      const r = await runMake([target, 'CHECKPOINT_DIR=.'], makeEnv(), copy);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`make ${target}: refusing: \\. was not made by the pipeline`));
    }
    const own = join(work, 'my-own-folder');
    mkdirSync(own);
    writeFileSync(join(own, 'notes.txt'), 'mine');
    const r = await runMake(['clean', `CHECKPOINT_DIR=${own}`], makeEnv(), copy);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /make clean: refusing: .*my-own-folder was not made by the pipeline/);
    assert.ok(existsSync(join(own, 'notes.txt')));
    const c = await runMake(['clean-cache', `EMBED_CACHE=${own}`], makeEnv(), copy);
    assert.equal(c.status, 2, c.stderr);
    assert.match(c.stderr, /make clean-cache: refusing: .* is not only an embedding cache/);
    assert.ok(existsSync(join(own, 'notes.txt')));
    assert.deepEqual(filesUnder(copy).sort(), before);
  });

  test('make clean empties a folder the pipeline made, keeps the cache; EMBED_CACHE= works; a name with spaces is refused clearly', async () => {
    const ck = join(work, 'secret'); // made by the first test's make load
    assert.ok(existsSync(join(ck, '.ct-pipeline')));
    const r = await runMake(['clean', `CHECKPOINT_DIR=${ck}`], makeEnv());
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(ck).sort(), ['.ct-pipeline', '.lock', 'embed-cache']);
    writeFileSync(join(ck, 'fetch.ndjson'), '');
    const r2 = await runMake(['clean', `CHECKPOINT_DIR=${ck}`, 'EMBED_CACHE='], makeEnv());
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(readdirSync(ck).sort(), ['.ct-pipeline', '.lock']);
    const sp = await runMake(['clean', `CHECKPOINT_DIR=${join(work, 'my ck')}`], makeEnv());
    assert.equal(sp.status, 2, sp.stderr);
    assert.match(sp.stderr, /CHECKPOINT_DIR='.*my ck': make cannot use a folder name with spaces/);
    // A folder an older version left (checkpoint files, no marker) is still the pipeline's.
    const old = join(work, 'old-version');
    mkdirSync(join(old, '.params'), { recursive: true });
    for (const f of ['fetch.ndjson', 'fetch.ndjson.meta.json', 'prepare.ndjson.partial', 'load.done']) writeFileSync(join(old, f), '');
    const o = await runMake(['clean', `CHECKPOINT_DIR=${old}`], makeEnv());
    assert.equal(o.status, 0, o.stderr);
    assert.deepEqual(readdirSync(old).sort(), ['.ct-pipeline', '.lock']);
  });
});

describe('variables reach the tools intact', () => {
  test('make update passes every filter, START_YEAR and NUM_RECORDS as given, QUERY with its two spaces', async () => {
    const r = await runMake(['-n', 'update', 'BUILD_STAMP=', `CHECKPOINT_DIR=${join(work, 'dry-update')}`, 'NUM_RECORDS=2014', 'START_YEAR=2014', 'QUERY=lung  cancer'], makeEnv());
    assert.equal(r.status, 0, r.stderr);
    const fetch = r.stdout.split('\n').find((l) => l.startsWith('bin/ct-fetch')) ?? '';
    assert.match(fetch, /--query 'lung {2}cancer' .*--start-year 2014 --num-records 2014 --updated-since/);
    assert.match(r.stdout, /bin\/ct-prepare .* --start-year 2014/);
    assert.equal(existsSync(join(work, 'dry-update')), false);
  });
});

describe('a failed resumed fetch does not block a run with other parameters', () => {
  test('FILE.resume-src from the failed resume is removed with the partial when the parameters change', async () => {
    const ck = join(work, 'resume-src');
    const v = (q: string) => vars(ck, `${prefix}resume`, [`QUERY=${q}`, 'FETCH_FLAGS=--page-size 2 --rate 8 --max-retries 0']);
    const partialMeta = join(ck, 'fetch.ndjson.partial.meta.json');
    const first = startMake(['fetch', ...v('the')], env());
    assert.ok(await waitFor(() => existsSync(partialMeta) && readFileSync(partialMeta, 'utf8').includes('"fetch"')), 'a page is saved');
    ctgov.setFaults({ rate503: 1 });
    try {
      assert.notEqual((await first.done).status, 0);
      const resumed = await runMake(['fetch', ...v('the')], env());
      assert.notEqual(resumed.status, 0);
      assert.match(resumed.stderr, /resuming after page/);
      assert.ok(existsSync(join(ck, 'fetch.ndjson.resume-src')), 'the failed resume left FILE.resume-src');
    } finally {
      ctgov.setFaults({});
    }
    const other = await runMake(['fetch', ...v('study')], env());
    assert.equal(other.status, 0, other.stderr);
    assert.ok(statSync(join(ck, 'fetch.ndjson')).size > 0);
    assert.deepEqual(readdirSync(ck).filter((f) => f.startsWith('fetch.ndjson.')), ['fetch.ndjson.meta.json']);
  });
});
