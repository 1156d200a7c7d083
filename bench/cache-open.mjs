#!/usr/bin/env node
// Embedding-cache benchmark (not a test): fill a cache with N entries (default 500,000 × 1536 dims, ≈ 3 GB),
// then time opening it in a fresh process, with its peak RSS (VmHWM): first without the sidecar indexes
// (every entry read and verified, as every open did before them, and as the first open of an older cache
// does), then with them (no vector read). The directory is removed at the end (--keep leaves it).
//
// Usage: node bench/cache-open.mjs [--entries 500000] [--dims 1536] [--module dist/src/embed/cache.js] [--keep]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg } from './timed.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const ENTRIES = Number(arg('entries', 500_000));
const DIMS = Number(arg('dims', 1536));
const MODULE = pathToFileURL(resolve(arg('module', join(root, 'dist/src/embed/cache.js')))).href;
const ns = { provider: 'hash', model: 'bench', dims: DIMS };
const dir = mkdtempSync(join(tmpdir(), 'ct-cache-bench-'));
const log = (m) => process.stderr.write(`cache-open: ${m}\n`);

const { EmbeddingCache, textKey } = await import(MODULE);
try {
  log(`writing ${ENTRIES} entries × ${DIMS} dims into ${dir}`);
  const started = Date.now();
  const w = new EmbeddingCache(dir, ns);
  const vec = new Float32Array(DIMS);
  for (let i = 0; i < ENTRIES; i += 5000) {
    const batch = [];
    for (let j = i; j < Math.min(ENTRIES, i + 5000); j++) {
      vec[j % DIMS] = j;
      batch.push([textKey(`text ${j}`), vec.slice()]);
    }
    await w.put(batch);
  }
  await w.close();
  log(`written in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // Open in a fresh process: time to a usable cache, entries indexed, peak RSS, and one lookup.
  const probe = `
    const { EmbeddingCache, textKey } = await import(${JSON.stringify(MODULE)});
    const t = process.hrtime.bigint();
    const c = new EmbeddingCache(${JSON.stringify(dir)}, ${JSON.stringify(ns)});
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const hit = c.get(textKey('text 12345')) !== undefined;
    const hwm = /VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1];
    console.log(JSON.stringify({ seconds, size: c.size, hit, rssMB: Number(hwm) / 1024 }));`;
  const open = () => JSON.parse(execFileSync(process.execPath, ['--input-type=commonjs', '-e', `(async () => {${probe}})()`], { encoding: 'utf8' }));
  const sidecars = () => readdirSync(join(dir, readdirSync(dir)[0])).filter((n) => n.endsWith('.idx'));
  for (const n of sidecars()) rmSync(join(dir, readdirSync(dir)[0], n));
  const scan = open();
  const withIdx = sidecars().length ? open() : undefined;
  const line = (name, r) => `${name.padEnd(44)} ${r.seconds.toFixed(2).padStart(6)} s  ${r.rssMB.toFixed(0).padStart(5)} MB peak RSS  ${r.size} entries, lookup ${r.hit ? 'hit' : 'MISS'}`;
  console.log(`embedding cache open: ${ENTRIES.toLocaleString('en-US')} entries × ${DIMS} dims`);
  console.log(line('open, no sidecar index (full verified scan)', scan));
  if (withIdx) console.log(line('open, with sidecar indexes', withIdx));
  else console.log('(this cache module writes no sidecar indexes: every open is the full scan)');
} finally {
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}
