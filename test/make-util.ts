/** Helpers for the tests that run the Makefile: spawning make (asynchronously: mocks live in the test process), the table's state. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const PG_URL = process.env.CT_TEST_DATABASE_URL || process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

export interface MakeResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment for make: no inherited make flags, UTC, no colours; `extra` entries set to undefined are removed. */
export function makeEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1', ...extra };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', ...Object.keys(extra).filter((k) => extra[k] === undefined)]) delete e[k];
  return e;
}

/** Start `make ARGS` in its own process group (so a test can SIGKILL all of it). */
export function startMake(args: string[], env: NodeJS.ProcessEnv, cwd = root): { child: ChildProcess; done: Promise<MakeResult> } {
  const child = spawn('make', ['--no-print-directory', '-C', cwd, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => killGroup(child), 180_000);
  const done = new Promise<MakeResult>((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
  return { child, done };
}

export function runMake(args: string[], env: NodeJS.ProcessEnv, cwd = root): Promise<MakeResult> {
  return startMake(args, env, cwd).done;
}

/** SIGKILL a make started by startMake and everything it started. */
export function killGroup(child: ChildProcess): boolean {
  try {
    process.kill(-child.pid!, 'SIGKILL');
    return true;
  } catch {
    return false; // already gone
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 10 ms until it holds (true) or `ms` pass (false). */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (await cond()) return true;
  return cond();
}

export async function withDb<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(PG_URL);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function dropTables(prefix: string): Promise<void> {
  await withDb(async (c) => {
    const { rows } = await c.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [`${prefix}%`]);
    for (const r of rows) await c.query(`DROP TABLE IF EXISTS "${r.tablename}"`);
  });
}

/** A table's rows by id: content hash, last update, title and vector (what two loads must agree on). */
export async function tableState(table: string): Promise<Map<string, string>> {
  return withDb(async (c) => {
    const { rows } = await c.query(`SELECT nct_id, content_hash, last_update_posted::text AS d, title, embedding::text AS v FROM "${table}" ORDER BY nct_id`);
    return new Map(rows.map((r) => [r.nct_id as string, `${r.content_hash} ${r.d} ${r.title} ${r.v}`]));
  });
}
