#!/usr/bin/env node
// ct-embed at registry scale (a benchmark, not a test; after `npm run build`): the ct-embed rows of
// bench/scale.mjs on their own, to iterate faster. N replicated real studies (test/fixtures/studies.ndjson
// with new NCT ids) go through ct-prepare once; then, each next to the bare JSON.parse + JSON.stringify loop
// over the prepared file measured in the same run:
//   ct-embed --provider hash, NDJSON out and Arrow out (the hash provider computes every vector: it has no cache)
//   ct-embed against the local OpenAI mock with every text cached, NDJSON out and Arrow out
// Prints time, records/s, ratio to the bare loop and peak RSS (/usr/bin/time -v).
//
// Usage: node bench/embed-scale.mjs [--n 10000] [--only hash,cached] [--reps 1] [--dir DIR] [--root CHECKOUT]
//   --reps K: run each step K times, interleaved, and keep its fastest run (a shared machine is noisy); the
//   CPU time (user + system) is printed too. --dir keeps the work files there (reused by the next run with
//   the same N); default: a temporary directory.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, timed, writeReplicatedStudies } from './timed.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(arg('n', 10_000));
const only = arg('only', 'hash,cached').split(',');
const REPS = Number(arg('reps', 1));
const keep = arg('dir', undefined);
const dir = keep ? join(keep, String(N)) : mkdtempSync(join(tmpdir(), 'ct-embed-scale-'));
mkdirSync(dir, { recursive: true });
const f = (name) => join(dir, name);
const node = process.execPath;
// --root DIR: the tools of another checkout (built), e.g. to measure before and after a change in one run.
const toolRoot = arg('root', root);
const bin = (tool) => join(toolRoot, 'bin', tool);
const log = (m) => process.stderr.write(`embed-scale: ${m}\n`);

if (!existsSync(f('prepare.ndjson'))) {
  await writeReplicatedStudies(join(root, 'test/fixtures/studies.ndjson'), f('studies.ndjson'), N);
  const r = spawnSync(node, [bin('ct-prepare'), f('studies.ndjson'), '--dedupe', 'first', '-q', '-o', f('prepare.ndjson')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ct-prepare failed');
  rmSync(f('studies.ndjson'));
}

const BARE_LINES = `
const [inFile, outFile] = process.argv.slice(1);
const fs = require('fs');
const out = fs.openSync(outFile, 'w');
const rl = require('readline').createInterface({ input: fs.createReadStream(inFile), crlfDelay: Infinity });
let s = '';
for await (const line of rl) { if (!line) continue; s += JSON.stringify(JSON.parse(line)) + '\\n'; if (s.length > 1 << 20) { fs.writeSync(out, s); s = ''; } }
fs.writeSync(out, s);
`;
const bare = () => timed(node, ['--input-type=commonjs', '-e', `(async () => {${BARE_LINES}})()`, f('prepare.ndjson'), f('bare.ndjson')]);

const cpuOf = (r) => {
  const t = (what) => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(r.stderr)?.[1] ?? NaN);
  return t('User') + t('System');
};
/** Each step: its fastest run (wall time), its CPU time in that run, its highest peak RSS. */
const steps = [];
const embed = (args, env) => () => timed(node, [bin('ct-embed'), f('prepare.ndjson'), '-q', ...args], { env });
const step = (name, run, ref = true) => steps.push({ name, run, ref });

step('bare parse+stringify loop (prepared file)', bare, false);
let mock;
if (only.includes('hash')) {
  step('ct-embed --provider hash', embed(['--provider', 'hash', '-o', f('hash.ndjson')]));
  step('ct-embed --provider hash, Arrow out', embed(['--provider', 'hash', '-o', f('hash.arrow'), '--format', 'arrow']));
}
if (only.includes('cached')) {
  const { startOpenAIMock } = await import(join(root, 'dist/test/mocks/openai-mock.js'));
  mock = await startOpenAIMock();
  const env = { OPENAI_BASE_URL: mock.url, OPENAI_API_KEY: null, HOME: dir, XDG_CACHE_HOME: null };
  const cache = ['--cache', f('cache')];
  // The mock's URL (a new port each time) is part of the cache key: this run fills the cache.
  log('filling the cache (openai mock, first run)');
  const first = await embed([...cache, '-o', '/dev/null'], env)();
  log(`first run: ${first.seconds.toFixed(1)} s, ${first.rssMB?.toFixed(0)} MB`);
  steps.splice(1, 0, { name: 'ct-embed (openai mock), first run (not repeated)', result: first, ref: true });
  step('ct-embed (openai mock), every text cached', embed([...cache, '-o', f('cached.ndjson')], env));
  step('ct-embed (openai mock), every text cached, Arrow out', embed([...cache, '-o', f('cached.arrow'), '--format', 'arrow'], env));
  mock.resetStats();
}
for (let rep = 0; rep < REPS; rep++) {
  for (const s of steps) {
    if (!s.run) continue;
    const r = await s.run();
    r.cpu = cpuOf(r);
    log(`${s.name}: ${r.seconds.toFixed(1)} s (CPU ${r.cpu.toFixed(1)} s), ${r.rssMB?.toFixed(0) ?? '?'} MB`);
    if (!s.result || r.seconds < s.result.seconds) s.result = { ...r, rssMB: Math.max(r.rssMB ?? 0, s.result?.rssMB ?? 0) };
    else s.result.rssMB = Math.max(s.result.rssMB ?? 0, r.rssMB ?? 0);
  }
}
if (mock) {
  if (mock.stats.requests) throw new Error(`the cached runs sent ${mock.stats.requests} requests`);
  await mock.close();
}
const ref = steps[0].result;
ref.cpu ??= cpuOf(ref);
const rows = steps.map((s) => {
  const r = s.result;
  r.cpu ??= cpuOf(r);
  return { step: s.name, seconds: r.seconds, cpu: r.cpu, rate: N / r.seconds, ratio: s.ref ? ref.seconds / r.seconds : undefined, cpuRatio: s.ref ? ref.cpu / r.cpu : undefined, rssMB: r.rssMB };
});
const fx = (x, d = 1) => x.toFixed(d);
console.log(`ct-embed at ${N.toLocaleString('en-US')} prepared records (${fx(readFileSync(f('prepare.ndjson')).length / 1e6)} MB), node ${process.version}`);
console.log(`| step | time${REPS > 1 ? ` (best of ${REPS})` : ''} | records/s | ratio to the bare loop | CPU time | CPU ratio | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|`);
for (const r of rows) {
  const ratio = (x) => (x ? fx(x, 2) + '×' : '');
  console.log(`| ${r.step} | ${fx(r.seconds)} s | ${Math.round(r.rate).toLocaleString('en-US')} | ${ratio(r.ratio)} | ${fx(r.cpu)} s | ${ratio(r.cpuRatio)} | ${r.rssMB ? Math.round(r.rssMB) + ' MB' : '?'} |`);
}
if (!keep) rmSync(dir, { recursive: true, force: true });
