#!/usr/bin/env node
// Keeps the options reference in README.md and docs/*.md equal to the real `--help` output of each tool.
//   node scripts/readme-help.mjs          rewrite the blocks between the markers
//   node scripts/readme-help.mjs --check  exit 1 (and say which) when a block differs
// Markers: <!-- help:ct-NAME --> … <!-- /help:ct-NAME -->
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f)) : [];
const helpCache = new Map();
const helpOf = (tool) => {
  if (!helpCache.has(tool)) {
    helpCache.set(tool, execFileSync(join(root, 'bin', tool), ['--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', TZ: 'UTC', CT_HELP_WIDTH: '100' } }).trimEnd());
  }
  return helpCache.get(tool);
};
const stale = [];
for (const file of ['README.md', ...docs]) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const updated = text.replace(/<!-- help:(ct-[a-z]+) -->\n[^]*?<!-- \/help:\1 -->/g, (block, tool) => {
    const fresh = `<!-- help:${tool} -->\n\`\`\`text\n${helpOf(tool)}\n\`\`\`\n<!-- /help:${tool} -->`;
    if (fresh !== block) stale.push(`${file} (${tool})`);
    return fresh;
  });
  if (!check && updated !== text) writeFileSync(path, updated);
}
if (check && stale.length) {
  console.error(`readme-help: the options reference is out of date in ${stale.join(', ')}; run node scripts/readme-help.mjs`);
  process.exit(1);
}
console.error(check ? 'readme-help: every help block matches --help' : stale.length ? `readme-help: updated ${stale.join(', ')}` : 'readme-help: nothing to update');
