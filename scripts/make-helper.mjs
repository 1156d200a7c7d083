#!/usr/bin/env node
// Small jobs of the Makefile that need a parser (run after `make build`; nothing here reads a secret from argv).
//   node scripts/make-helper.mjs db-id PGLITE_DIR TABLE
//       the database's identity without its password (from DATABASE_URL / PG* in the environment, else PGlite)
//   node scripts/make-helper.mjs cursor-read CURSOR_FILE PGLITE_DIR TABLE
//       the update cursor (a date) recorded for this database, or nothing
//   node scripts/make-helper.mjs cursor-record CURSOR_FILE FETCH_FILE STARTED_FILE PGLITE_DIR TABLE [SINCE] [LIMIT]
//       after a complete load of FETCH_FILE: advance the cursor (never backwards); print it if it moved
//   node scripts/make-helper.mjs count FILE.meta.json
//       the records of a checkpoint, from its metadata
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'pg-connection-string';

const [cmd, ...args] = process.argv.slice(2);

function fail(msg) {
  process.stderr.write(`make: ${msg}\n`);
  process.exit(1);
}

/** host:port/database user=… for Postgres (never the password), pglite:DIR for PGlite; then /TABLE. */
export function dbIdentity(env, pgliteDir, table) {
  const url = env.DATABASE_URL;
  let id;
  if (url) {
    let c;
    try {
      c = parse(url);
    } catch {
      fail('DATABASE_URL is not a valid connection URL');
    }
    id = `postgres://${c.user || ''}@${c.host || 'localhost'}:${c.port || 5432}/${c.database || ''}`;
  } else if (env.PGHOST || env.PGDATABASE) {
    id = `postgres://${env.PGUSER || ''}@${env.PGHOST || 'localhost'}:${env.PGPORT || 5432}/${env.PGDATABASE || ''}`;
  } else {
    id = `pglite:${pgliteDir}`;
  }
  return `${id}/${table}`;
}

function readCursor(file, db) {
  if (!existsSync(file)) return undefined;
  let c;
  try {
    c = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`${file}: unreadable update cursor (${err.message}); remove it to take the newest date from the table`);
  }
  return c.db === db && /^\d{4}-\d{2}-\d{2}$/.test(c.since) ? c.since : undefined;
}

const dayBefore = (d) => new Date(Date.parse(`${d}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
/** 2025-06 → 2025-06-01; anything else undefined. */
function normDate(v) {
  if (typeof v !== 'string') return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  if (/^\d{4}-\d{2}$/.test(v)) return `${v}-01`;
  return undefined;
}

async function maxUpdateDate(file) {
  const { openInput } = await import('../dist/src/io/input.js');
  const input = await openInput(file);
  let max;
  let n = 0;
  for await (const item of input) {
    const s = item.value;
    n++;
    const d = normDate(s?.protocolSection?.statusModule?.lastUpdatePostDateStruct?.date ?? s?.last_update_posted);
    if (d && (!max || d > max)) max = d;
  }
  return { max, n };
}

if (cmd === 'db-id') {
  const [pgliteDir, table] = args;
  process.stdout.write(dbIdentity(process.env, pgliteDir, table) + '\n');
} else if (cmd === 'cursor-read') {
  const [file, pgliteDir, table] = args;
  const since = readCursor(file, dbIdentity(process.env, pgliteDir, table));
  if (since) process.stdout.write(since + '\n');
} else if (cmd === 'cursor-record') {
  const [file, fetchFile, startedFile, pgliteDir, table, since = '', limit = ''] = args;
  const db = dbIdentity(process.env, pgliteDir, table);
  const old = readCursor(file, db);
  const { max, n } = await maxUpdateDate(fetchFile);
  let next = old;
  if (limit && n >= Number(limit)) {
    process.stderr.write(`make: the fetch stopped at NUM_RECORDS=${limit}: the update cursor is not advanced (${old ?? 'none'})\n`);
  } else if (max) {
    // A study updated while the fetch ran carries a date on or after the fetch's first day (give or take the
    // API's time zone): the cursor never passes the day before the fetch started.
    const started = existsSync(startedFile) ? readFileSync(startedFile, 'utf8').trim() : undefined;
    let cand = started && /^\d{4}-\d{2}-\d{2}$/.test(started) && dayBefore(started) < max ? dayBefore(started) : max;
    if (since && cand < since) cand = since;
    if (!old || cand > old) next = cand;
  } else if (since && (!old || since > old)) {
    next = since;
  }
  if (next && next !== old) {
    const { writeFileAtomic } = await import('../dist/src/io/atomic-file.js');
    writeFileAtomic(file, JSON.stringify({ since: next, db, from: fetchFile, recorded_at: new Date().toISOString() }) + '\n');
    process.stdout.write(next + '\n'); // printed only when it moved
  }
} else if (cmd === 'count') {
  const [meta] = args;
  let n = '';
  try {
    n = String(JSON.parse(readFileSync(meta, 'utf8')).records ?? '');
  } catch {
    // no metadata: no figure
  }
  process.stdout.write(n + '\n');
} else {
  fail(`make-helper: unknown command ${cmd ?? ''}`);
}
