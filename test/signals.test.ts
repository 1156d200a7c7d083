/**
 * SIGINT / SIGTERM mid-run on the compiled binaries: the tool stops reading, finishes or abandons the unit
 * in progress, says in one line what it kept, and exits 130 / 143.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createServer } from 'node:http';
import { loadStudies } from './mocks/ctgov-mock.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (tool: string) => join(root, 'bin', tool);
const sample = join(root, 'test', 'fixtures', 'studies-sample.ndjson');
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };
delete env.DATABASE_URL;

function started(tool: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const child = spawn(bin(tool), args, { env: { ...env, ...extraEnv }, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  return { child, exited, stderr: () => stderr };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`ct-prepare: ${signal} while reading stdin → exit ${code}, one line naming the .partial kept`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-signals-'));
    try {
      const out = join(dir, 'out.ndjson');
      const run = started('ct-prepare', ['-o', out, '--dedupe', 'first', '--no-raw']);
      run.child.stdin!.write(lines(sample).slice(0, 5).join('\n') + '\n'); // stdin stays open: the tool waits for more
      await until(() => existsSync(`${out}.partial`));
      await new Promise((r) => setTimeout(r, 1500)); // the five records are read (and held in the output buffer)
      run.child.kill(signal);
      const r = await run.exited;
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.stderr, `ct-prepare: interrupted; ${out}.partial kept, run again to resume\n`);
      assert.equal(existsSync(out), false);
      assert.equal(lines(`${out}.partial`).length, 5);
      run.child.stdin!.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('ct-prepare FILE --dedupe latest (two passes over the file): SIGINT mid-output → exit 130, the .partial kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-signals-'));
  try {
    // ≈ 60 MB of studies with distinct ids: long enough to be caught while writing.
    const base = lines(sample);
    const input = join(dir, 'in.ndjson');
    const copies: string[] = [];
    for (let i = 0; copies.length < 4000; i++) {
      for (const l of base) copies.push(l.replace(/"nctId":"NCT(\d+)"/, (_m, d) => `"nctId":"NCT${i}x${d}"`));
    }
    writeFileSync(input, copies.join('\n') + '\n');
    const out = join(dir, 'out.ndjson');
    const run = started('ct-prepare', [input, '-o', out]);
    await until(() => existsSync(`${out}.partial`) && statSync(`${out}.partial`).size > 0);
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`ct-prepare: interrupted; ${out}.partial kept, run again to resume\n$`));
    assert.equal(existsSync(out), false);
    assert.ok(lines(`${out}.partial`).length < copies.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ct-fetch: SIGINT while a request hangs aborts it at once; the first page stays in the .partial', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-signals-'));
  const studies = loadStudies(sample).slice(0, 5);
  let requests = 0;
  // Page 1 answers at once; page 2 never does.
  const server = createServer((req, res) => {
    requests++;
    if (req.url?.includes('pageToken')) return;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ studies, nextPageToken: 'p2', totalCount: 10 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const tee = join(dir, 'raw.ndjson');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v2`;
    const run = started('ct-fetch', ['--base-url', url, '--page-size', '5', '--tee', tee, '-q']);
    await until(() => requests >= 2);
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(Date.now() - t0 < 5000, 'the hanging request was aborted');
    assert.equal(r.stderr, `ct-fetch: interrupted; ${tee}.partial kept, run again to resume\n`);
    assert.equal(lines(`${tee}.partial`).length, 5);
    assert.equal(JSON.parse(readFileSync(`${tee}.partial.meta.json`, 'utf8')).fetch.pages, 1);
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ct-load (Postgres): SIGINT between batches → committed batches stay, the open batch is not loaded, exit 130', async () => {
  const table = `ct_signals_${process.pid}`;
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  let run: { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } | undefined;
  try {
    const prepared = spawnSync(bin('ct-prepare'), [sample, '-q', '--no-raw'], { env }).stdout.toString().split('\n').filter(Boolean);
    assert.ok(prepared.length >= 13);
    run = started('ct-load', ['--table', table, '--create-table', '--batch-size', '5', '-q'], { DATABASE_URL });
    run.child.stdin!.write(prepared.slice(0, 13).join('\n') + '\n');
    const count = async () => {
      const r = await client.query(`SELECT count(*)::int AS n FROM ${table}`).catch(() => ({ rows: [{ n: -1 }] }));
      return r.rows[0].n as number;
    };
    await until(async () => (await count()) === 10);
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(r.stderr, 'ct-load: interrupted\n');
    assert.equal(await count(), 10);
    run.child.stdin!.destroy();
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.end();
  }
});

test('ct-prepare: SIGINT before the first byte arrives exits 130 at once, leaving nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-signals-'));
  try {
    const out = join(dir, 'out.ndjson');
    const run = started('ct-prepare', ['-o', out]);
    await new Promise((r) => setTimeout(r, 1500));
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(existsSync(`${out}.partial`), false);
    run.child.stdin!.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
