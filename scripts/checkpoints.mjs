#!/usr/bin/env node
// Checkpoint management for the Makefile.
//   node scripts/checkpoints.mjs list DIR        a table of every checkpoint, from the .meta.json files
//   node scripts/checkpoints.mjs prune DIR KEEP  keep the newest KEEP archived checkpoints per step
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [cmd, dir = 'checkpoints', keepArg] = process.argv.slice(2);

function metas(folder, archived) {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith('.meta.json'))
    .map((f) => {
      const file = f.slice(0, -'.meta.json'.length);
      let meta = {};
      try {
        meta = JSON.parse(readFileSync(join(folder, f), 'utf8'));
      } catch {
        meta = { status: 'unreadable meta' };
      }
      const path = join(folder, file);
      const partial = file.endsWith('.partial');
      const step = file.replace(/\.partial$/, '').split('.')[0];
      const size = existsSync(path) ? statSync(path).size : 0;
      return { step, file: join(folder, file), archived, partial, meta, size };
    });
}

function human(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

function params(meta) {
  const o = meta.options ?? {};
  const skip = new Set(['input', 'out', 'o', 'tee', 'format', 'quiet', 'q', 'resume', 'rejects', 'cache']);
  return Object.entries(o)
    .filter(([k, v]) => !skip.has(k) && v !== false && v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${Array.isArray(v) ? v.join(',') : v}`))
    .join(' ');
}

if (cmd === 'list') {
  const rows = [...metas(dir, false), ...metas(join(dir, 'archive'), true)];
  const load = join(dir, 'load.done');
  if (existsSync(load)) {
    let meta = {};
    try {
      meta = JSON.parse(readFileSync(load, 'utf8'));
    } catch {}
    rows.push({ step: 'load', file: load, archived: false, partial: false, meta: { ...meta, options: { table: meta.table } }, size: statSync(load).size });
  }
  const order = { fetch: 0, prepare: 1, embed: 2, load: 3 };
  rows.sort((a, b) => a.archived - b.archived || (order[a.step] ?? 9) - (order[b.step] ?? 9) || String(b.meta.finished_at ?? '').localeCompare(String(a.meta.finished_at ?? '')));
  const table = [['step', 'state', 'finished', 'records', 'size', 'file', 'parameters']];
  for (const r of rows) {
    const state = r.archived ? 'archived' : r.partial ? 'partial' : r.meta.status ?? 'complete';
    table.push([
      r.step, state, (r.meta.finished_at ?? r.meta.started_at ?? '').replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
      r.meta.records ?? '', r.size ? human(r.size) : '', r.file, params(r.meta),
    ].map(String));
  }
  if (rows.length === 0) {
    console.log(`no checkpoints in ${dir}`);
  } else {
    const w = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    for (const r of table) console.log(r.map((c, i) => (i === 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd());
  }
} else if (cmd === 'prune') {
  const keep = Number(keepArg ?? 3);
  if (!Number.isInteger(keep) || keep < 0) {
    console.error('clean-checkpoints: KEEP must be a whole number ≥ 0');
    process.exit(2);
  }
  const arch = join(dir, 'archive');
  if (!existsSync(arch)) {
    console.log('no archived checkpoints');
    process.exit(0);
  }
  // archive/<step>.<UTC time>.<ext>[.meta.json]
  const byStep = new Map();
  for (const f of readdirSync(arch)) {
    const m = /^([a-z]+)\.(\d{8}T\d{6}Z)\./.exec(f);
    if (!m) continue;
    const key = `${m[1]}\0${m[2]}`;
    if (!byStep.has(m[1])) byStep.set(m[1], new Map());
    const runs = byStep.get(m[1]);
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key).push(f);
  }
  let removed = 0;
  for (const [step, runs] of byStep) {
    const keys = [...runs.keys()].sort().reverse();
    for (const k of keys.slice(keep)) {
      for (const f of runs.get(k)) rmSync(join(arch, f), { force: true });
      removed++;
    }
    console.log(`${step}: kept ${Math.min(keep, keys.length)} of ${keys.length}`);
  }
  console.log(`removed ${removed} archived checkpoints`);
} else {
  console.error('usage: checkpoints.mjs list DIR | prune DIR KEEP');
  process.exit(2);
}
