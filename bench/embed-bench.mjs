#!/usr/bin/env node
/**
 * ct-embed benchmark (not a test; `make bench`, after `npm run build`).
 *  1. Throughput: 10,000 prepared trial records (the 40-study fixture through ct-prepare, replicated with new
 *     ids) through bin/ct-embed against the OpenAI mock answering instantly: records/s sending everything
 *     (--no-cache), then records/s when everything is cached.
 *  2. Rate budget: two runs side by side for two of the mock's fixed 60 s windows against mocks with a
 *     200,000 TPM budget — one adapting to 429s only, one with --max-tpm 200000 — and the fraction of the
 *     budget used: tokens accepted / (TPM × windows).
 * Takes about 2.5 minutes. Work files go to .bench/ (git-ignored).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { startOpenAIMock } = await import(join(ROOT, 'dist/test/mocks/openai-mock.js'));
const DIR = join(ROOT, '.bench/embed');
const RECORDS = Number(process.env.BENCH_RECORDS ?? 10_000);
const TPM = 200_000;
const WINDOWS = 2;

rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const env = { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: DIR, XDG_CACHE_HOME: join(DIR, 'xdg') };

const prep = spawnSync(process.execPath, [join(ROOT, 'bin/ct-prepare'), '--no-raw', '-q', join(ROOT, 'test/fixtures/studies-sample.ndjson')], { encoding: 'utf8', env });
if (prep.status !== 0) throw new Error(prep.stderr);
const base = prep.stdout.trim().split('\n').map((l) => JSON.parse(l));
const input = join(DIR, 'records.ndjson');
const recs = [];
for (let i = 0; i < RECORDS; i++) {
  const r = base[i % base.length];
  const id = `NCT8${String(i).padStart(7, '0')}`;
  recs.push(JSON.stringify({ ...r, nct_id: id, text: `${id}\n${r.text}` }));
}
writeFileSync(input, recs.join('\n') + '\n');

/** Run ct-embed to /dev/null; resolve with wall seconds and its summary line. */
function embed(args, extraEnv, killAfterMs) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [join(ROOT, 'bin/ct-embed'), input, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = killAfterMs ? setTimeout(() => child.kill('SIGTERM'), killAfterMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0 && !killAfterMs) return reject(new Error(`ct-embed exit ${code}: ${stderr}`));
      resolve({ secs, summary: stderr.trim().split('\n').at(-1) });
    });
  });
}

console.log(`ct-embed bench: ${RECORDS} records, ${(recs.join('\n').length / 1e6).toFixed(1)} MB of NDJSON, node ${process.version}`);

// 1. Throughput against an instant mock.
{
  const mock = await startOpenAIMock();
  const e = { OPENAI_BASE_URL: mock.url };
  const sent = await embed(['--no-cache'], e);
  console.log(`instant mock, everything sent:   ${Math.round(RECORDS / sent.secs)} records/s (${sent.secs.toFixed(1)} s wall, ${mock.stats.tokens} tokens in ${mock.stats.okRequests} requests)`);
  const cache = join(DIR, 'cache');
  await embed(['--cache', cache, '-q'], e);
  mock.resetStats();
  const cached = await embed(['--cache', cache], e);
  console.log(`instant mock, everything cached: ${Math.round(RECORDS / cached.secs)} records/s (${cached.secs.toFixed(1)} s wall, ${mock.stats.requests} requests)`);
  await mock.close();
}

// 2. TPM budget: two mocks, two clients, side by side, for WINDOWS budget windows.
{
  const runs = [
    { name: 'adaptive only (429 → wait for reset)', args: [] },
    { name: '--max-tpm 200000', args: ['--max-tpm', String(TPM)] },
  ];
  const mocks = await Promise.all(runs.map(() => startOpenAIMock({ tpm: TPM })));
  const ms = WINDOWS * 60_000 - 1500; // stop just before the next window opens
  const results = await Promise.all(runs.map((r, i) => embed(['--no-cache', '-q', ...r.args], { OPENAI_BASE_URL: mocks[i].url }, ms)));
  runs.forEach((r, i) => {
    const s = mocks[i].stats;
    const frac = s.tokens / (TPM * WINDOWS);
    console.log(`TPM ${TPM}, ${WINDOWS} windows, ${r.name}: ${s.tokens} tokens accepted = ${(100 * frac).toFixed(1)}% of the budget; ${s.okRequests} requests ok, ${s.rateLimited} refused with 429 (${results[i].secs.toFixed(0)} s)`);
  });
  await Promise.all(mocks.map((m) => m.close()));
}
