/**
 * A new PGlite database is a copy of a template: a clean data directory that PGlite itself initialised
 * once (initdb in WASM, the slow and memory-hungry part of a first start: ≈ 3–10 s and ≈ 800 MB peak RSS),
 * kept per installed PGlite version beside it, in `node_modules/.cache/ct-pipeline/` (CT_PGLITE_TEMPLATE
 * names another directory; `off` means none: PGlite runs initdb in every new directory).
 *
 * The build makes it (scripts/pglite-template.mjs); when it is missing, the first new database makes it, in a
 * child process so that the tool's own peak memory stays that of an open database. It is made in a temporary
 * sibling and renamed into place, so it is either complete or absent, and two processes making it at once
 * both succeed (the second rename loses and its copy is removed).
 *
 * Copying it into a new directory (under that directory's lock) writes PG_VERSION last: PGlite and
 * `pgliteExists` take a directory without it for no database, so a copy cut short (SIGKILL, full disk) is
 * simply copied again by the next run.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeAbandonedTemps } from '../io/atomic-file.js';

/** Bump when what a template holds changes (the directory name then changes with it). */
const TEMPLATE_FORMAT = 1;

/** PostgreSQL's startup lock and ours: never part of a template or of a copy. */
const NOT_COPIED = new Set(['postmaster.pid', '.ct-lock']);

/**
 * PostgreSQL's buffer pool in PGlite: WASM memory that every start touches whole, so it is resident from the
 * first query on. PGlite reads and writes through the operating system's page cache anyway (Node's fs), so
 * a smaller pool costs little: measured over 10,000 studies (load + HNSW, search, --skip-existing), 32 MB
 * instead of PostgreSQL's 128 MB took the same time and ≈ 100 MB less peak RSS in every tool.
 */
export const PGLITE_SHARED_BUFFERS = '32MB';

/** Open (or, with no PG_VERSION, initialise) a PGlite directory as every tool does, with pgvector. */
export async function openPglite(dir: string): Promise<import('@electric-sql/pglite').PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`];
  return PGlite.create({ dataDir: dir, extensions: { vector }, startParams });
}

/** The installed @electric-sql/pglite: its folder and version. */
function installedPglite(): { dir: string; version: string } {
  // The package exports no package.json: walk up from its entry point to the folder that has one.
  let d = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return { dir: d, version: (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { version: string }).version };
}

/** Where the template for the installed PGlite is (or would be); undefined when templates are off. */
export function templateDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env.CT_PGLITE_TEMPLATE;
  if (named === 'off') return undefined;
  if (named) return resolve(named);
  const pglite = installedPglite();
  // …/node_modules/@electric-sql/pglite → …/node_modules/.cache/ct-pipeline/pglite-<version>-t<format>
  return join(pglite.dir, '..', '..', '.cache', 'ct-pipeline', `pglite-${pglite.version}-t${TEMPLATE_FORMAT}`);
}

/** A template is usable once renamed into place; PG_VERSION is checked all the same. */
const usable = (dir: string) => existsSync(join(dir, 'PG_VERSION'));

/** Make the template `dest` with PGlite (initdb), atomically. Resolves when it exists (made by us or another process). */
export async function makeTemplate(dest: string): Promise<void> {
  if (usable(dest)) return;
  mkdirSync(dirname(dest), { recursive: true });
  removeAbandonedTemps(dest);
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const db = await openPglite(tmp);
    await db.query('SELECT 1');
    await db.close();
    if (!usable(tmp)) throw new Error(`PGlite left no PG_VERSION in ${tmp}`);
    for (const name of NOT_COPIED) rmSync(join(tmp, name), { force: true });
    try {
      renameSync(tmp, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && usable(dest))) throw err; // another process was first
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The template, made first when it is missing (in a child process: initdb's memory is not the tool's).
 * Undefined when templates are off or it cannot be made (e.g. a read-only install): then PGlite runs initdb
 * in the new directory, as it would without a template; `log` is told why.
 */
export async function ensureTemplate(log?: (message: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const dest = templateDir(env);
  if (!dest || usable(dest)) return dest;
  const script = `import(${JSON.stringify(import.meta.url)}).then((m) => m.makeTemplate(${JSON.stringify(dest)}))`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((res) => {
    child.on('error', () => res(null));
    child.on('close', (c) => res(c));
  });
  if (code === 0 && usable(dest)) return dest;
  const why = /^\w*Error: .*$/m.exec(stderr)?.[0] ?? `exit ${code}`;
  log?.(`could not make the PGlite template ${dest} (${why}); the new database is initialised in place (slower)`);
  return undefined;
}

/**
 * Copy the template into `dir` (which its caller has locked and which holds no database), PG_VERSION last.
 * Whatever an earlier, interrupted copy left is overwritten.
 */
export function copyTemplate(template: string, dir: string): void {
  cpSync(template, dir, {
    recursive: true,
    force: true,
    filter: (src) => {
      const rel = relative(template, src);
      return rel !== 'PG_VERSION' && !NOT_COPIED.has(rel);
    },
  });
  const tmp = join(dir, 'PG_VERSION.ct-tmp');
  copyFileSync(join(template, 'PG_VERSION'), tmp);
  renameSync(tmp, join(dir, 'PG_VERSION'));
}
