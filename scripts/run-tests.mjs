#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with Node's test runner, with a pinned environment.
// Usage: node scripts/run-tests.mjs [substring …]   (only test files whose path contains one of them)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const filters = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files;
try {
  files = find(dist).sort();
} catch {
  console.error('run-tests: no dist/ — run `npm run build` (or `make test`) first');
  process.exit(1);
}
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
console.error(`run-tests: ${files.length} test files: ${files.map((f) => relative(dist, f)).join(' ')}`);
const env = { ...process.env, TZ: 'UTC', NO_COLOR: '1', FORCE_COLOR: '0', LC_ALL: 'C.UTF-8' };
delete env.OPENAI_API_KEY; // tests never talk to the real service
delete env.OPENAI_BASE_URL;
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit', env, cwd: root });
process.exit(r.status ?? 1);
