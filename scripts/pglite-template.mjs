#!/usr/bin/env node
// Part of the build: make the PGlite template that new PGlite databases are copied from (see
// src/load/pglite-template.ts), unless the installed PGlite already has one. Never fails the build: without
// a template the tools still work (the first new database makes it, or PGlite initialises each one itself).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
try {
  const { makeTemplate, templateDir } = await import(join(root, 'dist/src/load/pglite-template.js'));
  const dir = templateDir();
  if (!dir) console.error('pglite-template: off (CT_PGLITE_TEMPLATE=off)');
  else if (existsSync(join(dir, 'PG_VERSION'))) console.error(`pglite-template: up to date`);
  else {
    const started = Date.now();
    await makeTemplate(dir);
    console.error(`pglite-template: made in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
} catch (err) {
  console.error(`pglite-template: not made (${err?.message ?? err}); new PGlite databases are initialised in place`);
}
