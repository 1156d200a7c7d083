/**
 * `make load PIPE=1`: fetch | prepare | embed | load as one pipeline, each stage teeing its checkpoint. Against
 * local mocks (ClinicalTrials.gov, OpenAI) and the real Postgres:
 * - it gives the table of a plain `make load`, leaves complete checkpoints, and a rerun (either mode) pays nothing;
 * - SIGKILLed mid-run, the next `make load PIPE=1` resumes the fetch and ends with the same table;
 * - when ct-load fails (the database is missing), the stages before it still complete their checkpoints, so
 *   the rerun only loads: no text is sent to the embedding server again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudies, startCtgovMock, type CtgovMock } from './mocks/ctgov-mock.js';
import { startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';
import { PG_URL, dropTables, killGroup, makeEnv, root, runMake, sleep, startMake, tableState, waitFor } from './make-util.js';

const work = mkdtempSync(join(tmpdir(), 'make-pipe-'));
const prefix = `pipe_${process.pid}_`;

const sample = loadStudies(join(root, 'test', 'fixtures', 'studies-sample.ndjson'));

let api: CtgovMock;
let openai: OpenAIMock;

function vars(ck: string, table: string, extra: string[] = []): string[] {
  return [
    'BUILD_STAMP=', `CHECKPOINT_DIR=${ck}`, `CT_API_URL=${api.url}`, 'START_YEAR=', `TABLE=${table}`, 'EMBED_PROVIDER=openai',
    'FETCH_FLAGS=--page-size 3 --rate 20 --retry-delay 0.05', 'EMBED_FLAGS=--batch-size 3', 'LOAD_FLAGS=--batch-size 4', ...extra,
  ];
}
const env = (db = PG_URL) => makeEnv({ DATABASE_URL: db, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test-pipe' });

/** The checkpoint files, without metadata and make's own files. */
const files = (ck: string) => readdirSync(ck).filter((f) => !f.startsWith('.') && !f.endsWith('.meta.json') && f !== 'embed-cache' && f !== 'update').sort();

let reference: Map<string, string>;

before(async () => {
  api = await startCtgovMock({ studies: sample });
  openai = await startOpenAIMock({ delayMs: 20 });
  const r = await runMake(['load', ...vars(join(work, 'reference'), `${prefix}ref`)], env());
  assert.equal(r.status, 0, r.stderr);
  reference = await tableState(`${prefix}ref`);
});

after(async () => {
  await api?.close();
  await openai?.close();
  await dropTables(prefix);
  rmSync(work, { recursive: true, force: true });
});

describe('make load PIPE=1', () => {
  test('one pipeline gives the table of make load, complete checkpoints, and reruns that pay nothing', async () => {
    const ck = join(work, 'clean');
    const table = `${prefix}clean`;
    const r = await runMake(['load', 'PIPE=1', ...vars(ck, table)], env());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /make load PIPE=1: ct-fetch \| ct-prepare \| ct-embed \| ct-load/);
    const state = await tableState(table);
    assert.deepEqual(state, reference);
    assert.equal(reference.size, sample.length, 'one row per study');
    assert.deepEqual(files(ck), ['embed.ndjson', 'fetch.ndjson', 'load.done', 'prepare.ndjson']);

    const sent = openai.stats.requests;
    const again = await runMake(['load', 'PIPE=1', ...vars(ck, table)], env());
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /make load: up to date/);
    // Without PIPE the prepare step differs (latest-wins dedupe): it and the embed run again, from the cache.
    const plain = await runMake(['load', ...vars(ck, table)], env());
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, /bin\/ct-fetch/);
    assert.equal(openai.stats.requests, sent, 'no text sent again');
    assert.deepEqual(await tableState(table), reference);
  });

  test('SIGKILLed mid-fetch, the next run resumes and ends with the same table', async () => {
    const ck = join(work, 'killed');
    const table = `${prefix}killed`;
    const { child, done } = startMake(['load', 'PIPE=1', ...vars(ck, table)], env());
    const midFetch = await waitFor(() => child.exitCode !== null || existsSync(join(ck, 'fetch.ndjson.partial')), 60_000);
    assert.ok(midFetch);
    await sleep(300);
    assert.ok(killGroup(child), 'killed while running');
    await done;
    assert.equal(existsSync(join(ck, 'load.done')), false);
    let r;
    for (let attempt = 0; attempt < 3; attempt++) {
      r = await runMake(['load', 'PIPE=1', ...vars(ck, table)], env());
      if (r.status === 0) break;
    }
    assert.equal(r!.status, 0, r!.stderr);
    assert.deepEqual(await tableState(table), reference);
    // (An attempt that failed may have archived the checkpoints a failed stage's followers completed.)
    assert.deepEqual(files(ck).filter((f) => f !== 'archive'), ['embed.ndjson', 'fetch.ndjson', 'load.done', 'prepare.ndjson']);
  });

  test('a failed ct-load keeps the finished checkpoints: the rerun only loads, without paying for embeddings', async () => {
    const ck = join(work, 'dbdown');
    const table = `${prefix}dbdown`;
    const missing = PG_URL.replace(/\/[^/?]*(\?|$)/, `/${prefix}no_such_db$1`);
    const failed = await runMake(['load', 'PIPE=1', ...vars(ck, table)], env(missing));
    assert.notEqual(failed.status, 0);
    assert.match(failed.stderr, /ct-load: .*no_such_db/);
    assert.deepEqual(files(ck), ['embed.ndjson', 'fetch.ndjson', 'prepare.ndjson'], 'complete checkpoints up to the embeddings, no load.done');
    const sent = openai.stats.requests;
    const r = await runMake(['load', 'PIPE=1', ...vars(ck, table)], env());
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /ct-fetch|ct-embed:/, 'only ct-load runs');
    assert.equal(openai.stats.requests, sent, 'no text sent again');
    assert.deepEqual(await tableState(table), reference);
  });

  test('FORMAT=parquet is refused: it cannot stream', async () => {
    const r = await runMake(['load', 'PIPE=1', 'FORMAT=parquet', ...vars(join(work, 'parquet'), `${prefix}parquet`)], env());
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Parquet cannot stream through a pipe/);
  });
});
