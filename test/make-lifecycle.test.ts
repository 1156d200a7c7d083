/**
 * The refresh lifecycle, end to end: `make load` from the registry as it was (v1); the registry changes (v2:
 * some studies updated with later dates, served latest first, some new, one new one starting before
 * START_YEAR); `make update` SIGKILLed at random moments (seeded: mid-fetch, mid-embed, mid-load, any time),
 * then run to the end: the table equals a clean `make load` of v2, and the update cursor never moved while an
 * update was unfinished. Then `make load` with other LOAD_FLAGS reloads the old v1 checkpoint and changes no row.
 *
 * Local mocks (ClinicalTrials.gov v1 and v2, OpenAI) and the real Postgres. LIFECYCLE_SEEDS=1,2,3,4,5 by default.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStudies, startCtgovMock, type CtgovMock } from './mocks/ctgov-mock.js';
import { startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';
import { mulberry32 as prng } from './mocks/prng.js';
import { PG_URL, dropTables, killGroup, makeEnv, root, runMake, sleep, startMake, tableState, waitFor, withDb } from './make-util.js';

const SEEDS = (process.env.LIFECYCLE_SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const START_YEAR = '2009';
const work = mkdtempSync(join(tmpdir(), 'make-lifecycle-'));
const prefix = `life_${process.pid}_`;

type Study = { protocolSection: { identificationModule: { nctId: string; briefTitle: string }; statusModule: Record<string, any> } };
const v1 = loadStudies(join(root, 'test', 'fixtures', 'studies-sample.ndjson')) as Study[];
const v1Ids = new Set(v1.map((s) => s.protocolSection.identificationModule.nctId));

/** v2: every fourth v1 study updated (new title, later date), 8 new studies (one starting in 2001), latest first. */
function registryV2(): Study[] {
  const day = (i: number) => new Date(Date.UTC(2025, 2, 1 + i * 3)).toISOString().slice(0, 10);
  const changed = v1.map((s, i) => {
    if (i % 4 !== 1) return s;
    const c = structuredClone(s);
    c.protocolSection.identificationModule.briefTitle += ' (amended)';
    c.protocolSection.statusModule.lastUpdatePostDateStruct = { date: day(i), type: 'ACTUAL' };
    return c;
  });
  const extra = (loadStudies(join(root, 'test', 'fixtures', 'studies.ndjson')) as Study[])
    .filter((s) => !v1Ids.has(s.protocolSection.identificationModule.nctId))
    .slice(0, 8)
    .map((s, i) => {
      const c = structuredClone(s);
      c.protocolSection.statusModule.lastUpdatePostDateStruct = { date: day(20 + i), type: 'ACTUAL' };
      if (i === 3) c.protocolSection.statusModule.startDateStruct = { date: '2001-05', type: 'ACTUAL' };
      return c;
    });
  const date = (s: Study) => dateOf(s, 'lastUpdatePostDateStruct');
  return [...changed, ...extra].sort((a, b) => date(b).localeCompare(date(a)));
}

let api1: CtgovMock;
let api2: CtgovMock;
let openai: OpenAIMock;

function vars(ck: string, table: string, api: CtgovMock, extra: string[] = []): string[] {
  return [
    'BUILD_STAMP=', `CHECKPOINT_DIR=${ck}`, `CT_API_URL=${api.url}`, `START_YEAR=${START_YEAR}`, `TABLE=${table}`,
    'EMBED_PROVIDER=openai', 'FETCH_FLAGS=--page-size 3 --rate 25 --retry-delay 0.05', 'EMBED_FLAGS=--batch-size 3',
    'LOAD_FLAGS=--batch-size 2', ...extra,
  ];
}

function env(): NodeJS.ProcessEnv {
  // The tables are read back from PG_URL: make must load there, also where DATABASE_URL is unset (CI).
  return makeEnv({ DATABASE_URL: PG_URL, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test-lifecycle' });
}

const cursorOf = (ck: string): string | undefined =>
  existsSync(join(ck, 'update', 'cursor')) ? (JSON.parse(readFileSync(join(ck, 'update', 'cursor'), 'utf8')).since as string) : undefined;

/** What an interrupted update left: its files, and how many rows already differ from the v1 table. */
function leftBehind(ck: string): string {
  const run = join(ck, 'update', 'run');
  if (!existsSync(run)) return 'no update run';
  const files = readdirSync(run).filter((f) => !f.endsWith('.meta.json') && !f.startsWith('.'));
  return files.sort().join(' ');
}

let clean: Map<string, string>;
let v1State: Map<string, string>;
let v2Newest: string;
const dateOf = (s: Study, field: string) => String(s.protocolSection.statusModule[field]?.date ?? '');
/** The newest update date of the studies the API serves for START_YEAR. */
const newest = (studies: Study[]) =>
  studies.filter((s) => dateOf(s, 'startDateStruct') >= START_YEAR).map((s) => dateOf(s, 'lastUpdatePostDateStruct')).sort().at(-1)!;
const v1Newest = newest(v1);

before(async () => {
  api1 = await startCtgovMock({ studies: v1 });
  api2 = await startCtgovMock({ studies: registryV2() });
  openai = await startOpenAIMock({ delayMs: 40 });
  const r = await runMake(['load', ...vars(join(work, 'clean-v2'), `${prefix}clean`, api2)], env());
  assert.equal(r.status, 0, r.stderr);
  clean = await tableState(`${prefix}clean`);
  v2Newest = newest(registryV2());
});

after(async () => {
  await api1?.close();
  await api2?.close();
  await openai?.close();
  await dropTables(prefix);
  rmSync(work, { recursive: true, force: true });
});

/** The moments to kill at: the run's step that must be running, then a random delay. */
const PHASES: Array<{ name: string; running: (run: string, table: string) => boolean | Promise<boolean>; maxDelayMs: number }> = [
  { name: 'mid-fetch', running: (run) => existsSync(join(run, 'fetch.ndjson.partial')), maxDelayMs: 250 },
  { name: 'mid-load', running: (run) => existsSync(join(run, 'embed.ndjson')), maxDelayMs: 400 },
  { name: 'mid-embed', running: (run) => existsSync(join(run, 'embed.ndjson.partial')), maxDelayMs: 150 },
  { name: 'any time', running: () => true, maxDelayMs: 1500 },
  { name: 'mid-load, after a commit', running: async (_run, table) => (await amended(table)) > 0, maxDelayMs: 0 },
];

/** Rows of the update already committed (the amended titles). */
const amended = (table: string) =>
  withDb(async (c) => (await c.query(`SELECT count(*)::int AS n FROM "${table}" WHERE title LIKE '%(amended)'`)).rows[0].n as number);

describe('make update killed at random moments converges to a clean load of the new registry', () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}`, async () => {
      const rand = prng(seed * 7919);
      const ck = join(work, `seed-${seed}`);
      const table = `${prefix}s${seed}`;
      const first = await runMake(['load', ...vars(ck, table, api1)], env());
      assert.equal(first.status, 0, first.stderr);
      v1State ??= await tableState(table);
      const cursor1 = cursorOf(ck);
      assert.equal(cursor1, v1Newest, 'make load recorded the first cursor from the fetched data');
      const report: string[] = [];
      // Two kills per seed: the seed's own phase first, then one drawn at random.
      for (const phase of [PHASES[(seed - 1) % PHASES.length]!, PHASES[Math.floor(rand() * PHASES.length)]!]) {
        const run = join(ck, 'update', 'run');
        const { child, done } = startMake(['update', ...vars(ck, table, api2)], env());
        let killed = false;
        if (await waitFor(async () => child.exitCode !== null || (await phase.running(run, table)), 30_000)) {
          await sleep(Math.floor(rand() * phase.maxDelayMs));
          killed = child.exitCode === null && killGroup(child);
        }
        const r = await done;
        const state = await tableState(table);
        const rowsChanged = [...state].filter(([id, v]) => v1State.get(id) !== v).length;
        report.push(`${phase.name}: ${killed ? `killed, left ${leftBehind(ck)}, ${rowsChanged} rows already committed` : `finished first (exit ${r.status})`}`);
        if (killed && existsSync(run) && !existsSync(join(run, 'load.done'))) {
          // An unfinished run started from the cursor; the cursor cannot have moved since.
          assert.equal(cursorOf(ck), readFileSync(join(run, 'since'), 'utf8').trim(), `the cursor moved during an unfinished update (left ${leftBehind(ck)})`);
        }
      }
      let attempts = 0;
      let r;
      do {
        r = await runMake(['update', ...vars(ck, table, api2)], env());
        attempts++;
      } while (r.status !== 0 && attempts < 3);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(join(ck, 'update', 'run')), false, 'no unfinished update left');
      assert.equal(cursorOf(ck), v2Newest, 'the cursor moved to the newest date fetched');
      const got = await tableState(table);
      assert.deepEqual([...got.keys()], [...clean.keys()], 'same ids (START_YEAR applied to the update)');
      assert.deepEqual(got, clean, 'same rows as a clean load of v2');

      // Another load setting re-runs ct-load on the old v1 checkpoint: newer wins, nothing goes back.
      const reload = await runMake(['load', ...vars(ck, table, api1, ['LOAD_FLAGS=--batch-size 5'])], env());
      assert.equal(reload.status, 0, reload.stderr);
      assert.match(reload.stdout, /bin\/ct-load .*embed\.ndjson/, 'the load ran again on the v1 checkpoint');
      assert.match(reload.stderr, /ct-load: .* 0 inserted, 0 updated, .* older than the table, kept/);
      assert.deepEqual(await tableState(table), clean, 'reloading the older checkpoint changes no row');
      assert.equal(cursorOf(ck), v2Newest, 'reloading an older checkpoint never moves the cursor back');
      console.log(`# lifecycle seed ${seed}: ${report.join('; ')}; then ${attempts} make update run(s) to the end`);
    });
  }
});
