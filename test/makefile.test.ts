/**
 * The Makefile workflow under SIGKILL: for each step, kill `make load` at a random moment (seeded) while
 * that step runs, then run `make load` again until it succeeds. The final table must equal a clean run's
 * (ids, content hashes, vectors), and the mock OpenAI server must have seen each text at most once plus
 * the batches in flight at each kill. Also: the database down during the load keeps every checkpoint, and
 * the next `make load` neither re-fetches nor re-embeds.
 *
 * Runs against local mocks (ClinicalTrials.gov, OpenAI) and the real Postgres. KILL_SEEDS=1,2,3 by default.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadStudies, startCtgovMock, type CtgovMock } from './mocks/ctgov-mock.js';
import { startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';
import { mulberry32 as prng } from './mocks/prng.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SEEDS = (process.env.KILL_SEEDS ?? '1,2,3').split(',').map(Number);
const BATCH = 8;
const CONCURRENCY = 2;
const work = mkdtempSync(join(tmpdir(), 'make-kill-'));
const studies = loadStudies(join(root, 'test', 'fixtures', 'studies-sample.ndjson'));

let ctgov: CtgovMock;
let openai: OpenAIMock;


function makeArgs(ck: string, table: string, dbUrl = PG_URL): string[] {
  return [
    '-C', root, 'load', 'BUILD_STAMP=', `CHECKPOINT_DIR=${ck}`, `CT_API_URL=${ctgov.url}`, 'START_YEAR=',
    `DATABASE_URL=${dbUrl}`, `TABLE=${table}`, 'EMBED_PROVIDER=openai',
    'FETCH_FLAGS=--page-size 5 --rate 100 --retry-delay 0.05',
    `EMBED_FLAGS=--batch-size ${BATCH} --concurrency ${CONCURRENCY}`, 'LOAD_FLAGS=--batch-size 7 -q',
  ];
}

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test-kill', TZ: 'UTC', NO_COLOR: '1' };
  delete e.MAKEFLAGS;
  delete e.MFLAGS;
  return e;
}

/** Run `make load` (asynchronously: the mock servers live in this process and must keep answering). */
function makeLoad(ck: string, table: string, dbUrl?: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('make', makeArgs(ck, table, dbUrl), { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

async function tableState(table: string): Promise<Map<string, string>> {
  const c = new pg.Client(PG_URL);
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT nct_id, content_hash, embedding::text AS v FROM "${table}" ORDER BY nct_id`);
    return new Map(rows.map((r) => [r.nct_id as string, `${r.content_hash} ${r.v}`]));
  } finally {
    await c.end();
  }
}

async function dropTables(prefix: string): Promise<void> {
  const c = new pg.Client(PG_URL);
  await c.connect();
  const { rows } = await c.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [`${prefix}%`]);
  for (const r of rows) await c.query(`DROP TABLE IF EXISTS "${r.tablename}"`);
  await c.end();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const prefix = `kill_${process.pid}_`;
let clean: Map<string, string>;

before(async () => {
  ctgov = await startCtgovMock({ studies });
  openai = await startOpenAIMock({ delayMs: 120 });
  const r = await makeLoad(join(work, 'clean'), `${prefix}clean`);
  assert.equal(r.status, 0, r.stderr);
  clean = await tableState(`${prefix}clean`);
  assert.equal(clean.size, studies.length);
  assert.equal(openai.stats.inputs, studies.length, 'a clean run sends every text once');
});

after(async () => {
  await ctgov?.close();
  await openai?.close();
  await dropTables(prefix);
  rmSync(work, { recursive: true, force: true });
});

/** The moment a step is running: its partial checkpoint exists (load: the embed checkpoint is complete). */
function stepRunning(ck: string, step: string): boolean {
  if (step === 'load') return existsSync(join(ck, 'embed.ndjson'));
  return existsSync(join(ck, `${step}.ndjson.partial`));
}

describe('make load killed at random moments converges to the clean table', () => {
  for (const step of ['fetch', 'prepare', 'embed', 'load']) {
    for (const seed of SEEDS) {
      test(`${step}, seed ${seed}`, async () => {
        const rand = prng(seed * 31 + step.length);
        const ck = join(work, `${step}-${seed}`);
        const table = `${prefix}${step}_${seed}`;
        openai.resetStats();
        const child = spawn('make', makeArgs(ck, table), { env: env(), detached: true, stdio: 'ignore' });
        const done = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        let killed = false;
        for (let i = 0; i < 1200; i++) {
          if (stepRunning(ck, step)) {
            await sleep(Math.floor(rand() * (step === 'embed' ? 500 : 300)));
            try {
              process.kill(-child.pid!, 'SIGKILL');
              killed = true;
            } catch {
              // already finished
            }
            break;
          }
          if (child.exitCode !== null) break;
          await sleep(10);
        }
        await done;
        let attempts = 0;
        let r;
        do {
          r = await makeLoad(ck, table);
          attempts++;
        } while (r.status !== 0 && attempts < 4);
        assert.equal(r.status, 0, r.stderr);
        const got = await tableState(table);
        assert.deepEqual([...got.keys()], [...clean.keys()], 'same ids, no duplicates');
        assert.deepEqual(got, clean, 'same content hashes and vectors');
        const inFlight = killed && (step === 'embed') ? CONCURRENCY * BATCH : 0;
        assert.ok(
          openai.stats.inputs <= studies.length + inFlight,
          `${openai.stats.inputs} embedding inputs sent for ${studies.length} texts (allowance ${inFlight})`,
        );
        console.log(`# kill ${step} seed ${seed}: killed=${killed}, make runs after the kill=${attempts}, embedding inputs re-sent=${openai.stats.inputs - studies.length}`);
      });
    }
  }
});

/** A TCP forwarder to Postgres that can be switched off: the database "goes down" for the pipeline. */
async function startProxy(): Promise<{ url: string; down: () => void; up: () => Promise<void>; close: () => Promise<void> }> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((s) => {
        const upstream = netConnect(Number(target.port || 5432), target.hostname);
        sockets.add(s).add(upstream);
        s.pipe(upstream).pipe(s);
        const end = () => (s.destroy(), upstream.destroy());
        s.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const down = () => {
    server?.close();
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  await up();
  const url = new URL(PG_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return { url: url.toString(), down, up, close: async () => down() };
}

test('the database down during make load keeps every checkpoint; the next make load re-fetches and re-embeds nothing', async () => {
  const proxy = await startProxy();
  const ck = join(work, 'db-down');
  const table = `${prefix}dbdown`;
  try {
    proxy.down();
    openai.resetStats();
    const fetchesBefore = ctgov.requests.length;
    const r1 = await makeLoad(ck, table, proxy.url);
    assert.notEqual(r1.status, 0);
    assert.match(r1.stderr, /ct-load: .*(connect|ECONNREFUSED)/);
    for (const f of ['fetch.ndjson', 'prepare.ndjson', 'embed.ndjson']) assert.ok(existsSync(join(ck, f)), `${f} kept`);
    assert.equal(existsSync(join(ck, 'load.done')), false);
    const fetched = ctgov.requests.length - fetchesBefore;
    const embedded = openai.stats.inputs;
    assert.equal(embedded, studies.length);
    await proxy.up();
    const r2 = await makeLoad(ck, table, proxy.url);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(ctgov.requests.length - fetchesBefore, fetched, 'no new API requests');
    assert.equal(openai.stats.inputs, embedded, 'no new embedding requests');
    assert.deepEqual(await tableState(table), clean);
    assert.ok(readdirSync(ck).includes('load.done'));
  } finally {
    await proxy.close();
  }
});

function makeTarget(target: string, vars: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('make', ['--no-print-directory', '-C', root, target, 'BUILD_STAMP=', ...vars], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the Makefile workflow', () => {
  const ck = () => join(work, 'clean');
  const vars = () => makeArgs(ck(), `${prefix}clean`).slice(3);

  test('changing a variable re-runs that step and those after it; the old checkpoint is archived', async () => {
    const fetches = ctgov.requests.length;
    openai.resetStats();
    const r = await makeTarget('load', [...vars(), 'PREPARE_FLAGS=--dedupe first']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(ctgov.requests.length, fetches, 'fetch did not run again');
    assert.match(r.stderr, /ct-prepare: 40 in, 40 out/);
    assert.match(r.stderr, /ct-embed: .*40 cached, 0 texts sent/);
    assert.equal(openai.stats.inputs, 0, 'embeddings came from the cache');
    assert.ok(readdirSync(join(ck(), 'archive')).some((f) => /^prepare\.\d{8}T\d{6}Z\.ndjson$/.test(f)));
    assert.deepEqual(await tableState(`${prefix}clean`), clean);
    const again = await makeTarget('load', [...vars(), 'PREPARE_FLAGS=--dedupe first']);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /bin\/ct-/, 'nothing to do when nothing changed');
  });

  test('make checkpoints lists every checkpoint; clean-checkpoints KEEP=0 empties the archive', async () => {
    const r = await makeTarget('checkpoints', [`CHECKPOINT_DIR=${ck()}`]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^step\s+state\s+finished\s+records\s+size\s+file\s+parameters$/);
    for (const step of ['fetch', 'prepare', 'embed', 'load']) {
      assert.ok(lines.some((l) => new RegExp(`^${step}\\s+complete\\s`).test(l)), `${step} listed:\n${r.stdout}`);
    }
    assert.ok(lines.some((l) => /^prepare\s+archived\s.*\s40\s/.test(l)), r.stdout);
    const p = await makeTarget('clean-checkpoints', [`CHECKPOINT_DIR=${ck()}`, 'KEEP=0']);
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(readdirSync(join(ck(), 'archive')), []);
  });

  test('make update fetches only studies updated since the cursor make load recorded (the newest last_update_posted it fetched)', async () => {
    const fetches = ctgov.requests.length;
    const newest = [...studies]
      .map((s: any) => s.protocolSection.statusModule.lastUpdatePostDateStruct?.date as string)
      .sort()
      .at(-1)!;
    const r = await makeTarget('update', vars());
    assert.equal(r.status, 0, r.stderr);
    const sent = ctgov.requests.slice(fetches).filter((q) => q.path.endsWith('/studies'));
    assert.ok(sent.length >= 1);
    assert.ok(sent.every((q) => q.query['filter.advanced']?.includes(`AREA[LastUpdatePostDate]RANGE[${newest},MAX]`)), JSON.stringify(sent[0]?.query));
    assert.match(r.stderr, /ct-embed: 1 records, 1 embedded, 1 cached, 0 texts sent/);
    assert.deepEqual(await tableState(`${prefix}clean`), clean);
  });

  test('NO_EMBEDDINGS=1 make load loads prepared records without vectors and never embeds', async () => {
    const ck2 = join(work, 'no-embeddings');
    const table = `${prefix}noemb`;
    openai.resetStats();
    const r = await makeTarget('load', [...makeArgs(ck2, table).slice(3), 'NO_EMBEDDINGS=1']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(openai.stats.requests, 0);
    assert.equal(existsSync(join(ck2, 'embed.ndjson')), false);
    const c = new pg.Client(PG_URL);
    await c.connect();
    try {
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM "${table}"`);
      assert.equal(rows[0].n, studies.length);
      const cols = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1`, [table]);
      assert.ok(!cols.rows.some((r) => r.column_name === 'embedding'), 'no vector column is created');
    } finally {
      await c.end();
    }
  });
});
