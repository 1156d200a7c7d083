#!/usr/bin/env node
// PGlite start-up benchmark (not a test): time and peak RSS (/usr/bin/time -v) of the tools on a new and on an
// existing PGlite directory, 50 records, each the median of --runs runs (RSS: the largest), next to references
// measured in the same run: PGlite's own initdb in the new directory (CT_PGLITE_TEMPLATE=off) and a bare
// PGlite.create of the existing directory with PGlite's defaults. Also once: a new directory when the template
// does not exist yet (the first new database after an install that skipped the build step).
//
// Usage: node bench/pglite-start.mjs [--runs 3] [--root DIR]
//   --root: the checkout whose bin/ and dist/ to run (default: this one), e.g. an older one for "before" figures;
//   rows that need what it lacks are measured all the same (CT_PGLITE_TEMPLATE means nothing to older code).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, timed } from './timed.mjs';

const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const RUNS = Number(arg('runs', 3));
const root = resolve(arg('root', here));
const node = process.execPath;
const bin = (tool) => join(root, 'bin', tool);
const dir = mkdtempSync(join(tmpdir(), 'ct-pglite-start-'));
const f = (name) => join(dir, name);
const log = (m) => process.stderr.write(`pglite-start: ${m}\n`);
// PGlite, whatever the caller's environment says.
const env = { DATABASE_URL: null, PGHOST: null, PGDATABASE: null, PGPORT: null, PGUSER: null };

try {
  // Inputs: 50 prepared studies (as the brief's ct-load run), the same embedded (for ct-search), 50 raw ones.
  const raw = readFileSync(join(here, 'test/fixtures/studies.ndjson'), 'utf8').split('\n').filter((l) => l.trim()).slice(0, 50);
  writeFileSync(f('raw.ndjson'), raw.join('\n') + '\n');
  execFileSync(node, [bin('ct-prepare'), f('raw.ndjson'), '-o', f('small.ndjson')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(node, [bin('ct-embed'), f('small.ndjson'), '--provider', 'hash', '-q', '-o', f('embedded.ndjson')], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The build step makes the template; make sure it exists (a checkout without one skips this).
  try {
    execFileSync(node, [join(root, 'scripts/pglite-template.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    log(`${root} has no scripts/pglite-template.mjs: no template`);
  }
  const existing = f('existing');
  await timed(node, [bin('ct-load'), f('embedded.ndjson'), '--pglite-dir', existing, '--create-table', '-q'], { env });

  const rows = [];
  const measure = async (name, argsOf, { runs = RUNS, extraEnv = {}, note = '' } = {}) => {
    const results = [];
    for (let i = 0; i < runs; i++) {
      const [cmd, ...args] = argsOf(i);
      results.push(await timed(cmd, args, { env: { ...env, ...extraEnv } }));
    }
    const seconds = results.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor(runs / 2)];
    const rssMB = Math.max(...results.map((r) => r.rssMB ?? 0));
    rows.push({ name, seconds, rssMB, note });
    log(`${name}: ${seconds.toFixed(2)} s, ${Math.round(rssMB)} MB`);
  };
  const newDir = (tag) => (i) => {
    const d = f(`new-${tag}-${i}`);
    rmSync(d, { recursive: true, force: true });
    return [node, bin('ct-load'), f('small.ndjson'), '--pglite-dir', d, '--create-table', '--no-embeddings', '-q'];
  };

  await measure('ct-load, new directory', newDir('template'));
  await measure('ct-load, new directory, no template (PGlite initdb)', newDir('initdb'), { extraEnv: { CT_PGLITE_TEMPLATE: 'off' }, note: 'reference' });
  await measure('ct-load, new directory, template made first', newDir('first'), { runs: 1, extraEnv: { CT_PGLITE_TEMPLATE: f('template') }, note: 'once' });
  await measure('ct-load, existing directory', () => [node, bin('ct-load'), f('small.ndjson'), '--pglite-dir', existing, '--no-embeddings', '-q']);
  const bare = `const { PGlite } = await import(${JSON.stringify(join(root, 'node_modules/@electric-sql/pglite/dist/index.js'))});
    const { vector } = await import(${JSON.stringify(join(root, 'node_modules/@electric-sql/pglite-pgvector/dist/index.js'))});
    const db = await PGlite.create({ dataDir: ${JSON.stringify(existing)}, extensions: { vector } });
    await db.query('SELECT 1'); await db.close();`;
  await measure('bare PGlite.create (defaults), existing directory', () => [node, '--input-type=module', '-e', bare], { note: 'reference' });
  await measure('ct-search one query, existing directory', () => [node, bin('ct-search'), 'asthma in children', '--pglite-dir', existing, '--limit', '5']);
  await measure('ct-prepare --skip-existing, existing directory', () => [node, bin('ct-prepare'), f('raw.ndjson'), '--skip-existing', '--pglite-dir', existing]);

  console.log(`pglite-start: ${root === here ? 'this checkout' : root}, median of ${RUNS} (peak RSS: the largest), ${new Date().toISOString().slice(0, 16)}Z`);
  console.log('');
  console.log('| run | time | peak RSS | |');
  console.log('|---|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.seconds.toFixed(2)} s | ${Math.round(r.rssMB)} MB | ${r.note} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
