#!/usr/bin/env node
// Checkpoint formats benchmark (not a test): N embedded studies (the 553 sample studies replicated with new
// ids, prepared, embedded with the offline hash provider at 1536 dimensions) written as NDJSON, Arrow (IPC
// file) and Parquet (zstd), then read back by ct-load into Postgres. Prints per format: file size, the
// writer's wall time and peak RSS (ct-embed with a warm cache, so the vectors come from the cache and the
// time is reading the prepared records + encoding the output), and ct-load's wall time and peak RSS.
//
// Usage: node bench/format-bench.mjs [--records 10000] [--keep]
//   DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Needs `npm run build` first.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { arg } from './timed.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RECORDS = Number(arg('records', 10_000));
const KEEP = process.argv.includes('--keep');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DIR = mkdtempSync(join(tmpdir(), 'ct-format-bench-'));
const env = { PATH: process.env.PATH, HOME: DIR, TZ: 'UTC', DATABASE_URL };
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Run a tool; resolve with wall seconds and peak RSS (MB, when /usr/bin/time is there). */
function run(tool, args, { stdin, stdout } = {}) {
  return new Promise((resolve, reject) => {
    const rssFile = join(DIR, 'rss');
    const cmd = TIME ? TIME : process.execPath;
    const argv = [...(TIME ? ['-f', '%M', '-o', rssFile, process.execPath] : []), join(ROOT, 'bin', tool), ...args];
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { env, stdio: [stdin ? 'pipe' : 'ignore', stdout ? 'pipe' : 'ignore', 'pipe'] });
    let stderr = '';
    const out = [];
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    if (stdout) child.stdout.on('data', (d) => out.push(d));
    if (stdin) child.stdin.end(stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${tool} ${args.join(' ')}: exit ${code}: ${stderr}`));
      const rss = TIME ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024 : NaN;
      resolve({ secs, rss, stdout: Buffer.concat(out) });
    });
  });
}

const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
try {
  // N raw studies with new ids
  const base = readFileSync(join(ROOT, 'test/fixtures/studies.ndjson'), 'utf8').split('\n').filter((l) => l.trim());
  const lines = [];
  for (let i = 0; i < RECORDS; i++) {
    const s = JSON.parse(base[i % base.length]);
    s.protocolSection.identificationModule.nctId = `NCT9${String(i).padStart(7, '0')}`;
    lines.push(JSON.stringify(s));
  }
  const raw = join(DIR, 'raw.ndjson');
  writeFileSync(raw, lines.join('\n') + '\n');
  const prepared = join(DIR, 'prepare.ndjson');
  await run('ct-prepare', [raw, '-o', prepared, '-q', '--dedupe', 'first']);
  const cache = join(DIR, 'cache');
  const embedArgs = ['--provider', 'hash', '--cache', cache, '-q'];
  await run('ct-embed', [prepared, ...embedArgs], { stdout: true }); // warm the cache
  console.log(`format bench: ${RECORDS} embedded studies (hash, 1536 dims, with raw), node ${process.version}`);
  console.log('format   size MB  write s  write RSS MB  ct-load s  load rows/s  load RSS MB');
  for (const [format, ext] of [['ndjson', 'ndjson'], ['arrow', 'arrow'], ['parquet', 'parquet']]) {
    const file = join(DIR, `embed.${ext}`);
    const w = await run('ct-embed', [prepared, ...embedArgs, '--format', format, '-o', file]);
    const size = statSync(file).size / 1e6;
    const table = `format_bench_${format}`;
    const l = await run('ct-load', [file, '--table', table, '--drop-table', '-q']);
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    console.log(
      `${format.padEnd(8)} ${size.toFixed(1).padStart(7)}  ${w.secs.toFixed(2).padStart(7)}  ${w.rss.toFixed(0).padStart(12)}  ` +
        `${l.secs.toFixed(2).padStart(9)}  ${Math.round(RECORDS / l.secs).toString().padStart(11)}  ${l.rss.toFixed(0).padStart(11)}`,
    );
  }
} finally {
  await db.end();
  if (KEEP) console.log(`kept ${DIR}`);
  else rmSync(DIR, { recursive: true, force: true });
}
