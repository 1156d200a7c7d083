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

test('every pipeline of the tools in the README comes after `set -o pipefail` in its block', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  // Code blocks, except the generated --help blocks (their examples are the tools' own text).
  const blocks = [...readme.matchAll(/(<!-- help:[\w-]+ -->\n)?```(\w*)\n([\s\S]*?)```/g)].filter((m) => !m[1]);
  let pipelines = 0;
  for (const [, , lang, body] of blocks) {
    const lines = body!.split('\n');
    lines.forEach((line, i) => {
      const cmd = lang === 'sh' ? line : line.startsWith('$ ') ? line.slice(2) : undefined;
      if (cmd === undefined || !/\bct-\w+/.test(cmd) || !/(^|\s)\|(\s|$)/.test(cmd)) return;
      pipelines++;
      assert.ok(lines.slice(0, i).some((l) => /^(\$ )?set -o pipefail$/.test(l)), `no set -o pipefail before: ${line}`);
    });
  }
  assert.ok(pipelines >= 5, `found ${pipelines} pipelines`);
});
