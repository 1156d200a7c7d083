#!/usr/bin/env node
// Keeps the README's options reference equal to the real `--help` output of each tool.
//   node scripts/readme-help.mjs          rewrite the blocks between the markers
//   node scripts/readme-help.mjs --check  exit 1 (and say which) when a block differs
// Markers: <!-- help:ct-NAME --> … <!-- /help:ct-NAME -->
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readmePath = join(root, 'README.md');
const check = process.argv.includes('--check');
const readme = readFileSync(readmePath, 'utf8');
const stale = [];
const updated = readme.replace(/<!-- help:(ct-[a-z]+) -->\n[^]*?<!-- \/help:\1 -->/g, (block, tool) => {
  const help = execFileSync(join(root, 'bin', tool), ['--help'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', TZ: 'UTC' },
  }).trimEnd();
  const fresh = `<!-- help:${tool} -->\n\`\`\`text\n${help}\n\`\`\`\n<!-- /help:${tool} -->`;
  if (fresh !== block) stale.push(tool);
  return fresh;
});
if (check) {
  if (stale.length) {
    console.error(`readme-help: README.md options reference is out of date for ${stale.join(', ')}; run node scripts/readme-help.mjs`);
    process.exit(1);
  }
  console.error('readme-help: README.md matches --help of every tool');
} else if (updated !== readme) {
  writeFileSync(readmePath, updated);
  console.error(`readme-help: updated ${stale.join(', ')}`);
}
