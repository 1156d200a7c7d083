/** The README's options reference is the real --help output; this fails when they drift apart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('README options reference equals every tool --help', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'readme-help.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('README documents every tool with a help block', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const bins = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin as Record<string, string>);
  for (const b of bins) assert.match(readme, new RegExp(`<!-- help:${b} -->`), `${b} has no help block in README.md`);
});
