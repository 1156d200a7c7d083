/**
 * One process at a time on a resource (a PGlite directory, a checkpoint folder): a lock file holding the
 * holder's pid, tool, process start time and host, created atomically (written beside it, then `link`ed into
 * place, which fails when the name exists), so a reader never sees a half-written lock.
 *
 * A lock whose holder is gone is taken over: the pid no longer runs, or it runs but started at another time
 * (the pid was reused; Linux's /proc start time, where there is one). A lock from another host is never
 * judged stale (its pid means nothing here). Two processes taking over the same stale lock do it one at a
 * time, under a short-lived `FILE.takeover` guard, and each re-reads the lock before removing it, so a fresh
 * lock is never removed. Release removes the file only while it is still this process's lock; it also
 * happens at process exit (a SIGKILL leaves the file, which the next process then takes over).
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { RuntimeError } from '../io/errors.js';

export interface LockHolder {
  pid: number;
  tool: string;
  /** The process's start time (clock ticks since boot, from /proc), to tell a reused pid apart. */
  started?: string;
  host: string;
  /** When the lock was taken (ISO time). */
  since: string;
}

export interface Lock {
  readonly file: string;
  release(): void;
}

export interface LockOptions {
  /** Shown as the holder's tool to the next process. */
  tool: string;
  /** The resource in messages: "data/pglite is in use by ct-load, pid 4242". */
  what: string;
  /** Appended to the refusal, e.g. why the caller cannot share. */
  hint?: string;
  /** Told when a stale lock is taken over. */
  log?: (message: string) => void;
}

/** The fields of /proc/PID/stat after the command name (field 3 onwards), or undefined where there is none. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process's start time from /proc (field 22 of stat), or undefined where there is none. */
export function processStart(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * A process that has exited but was not reaped yet (a zombie, `Z`, or `X` while it goes): it never runs
 * again. A SIGKILLed tool whose parent died too stays a zombie until something reaps it, which in a
 * container whose first process does not reap may be never; its lock is stale all the same.
 */
export function isExited(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state === 'Z' || state === 'X';
}

/** True while process `pid` (of this host) runs: it exists and has not exited (a zombie does not run). */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  return !isExited(pid);
}

/** True when the holder's process is still the one that took the lock, and has not exited. */
export function holderAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // cannot tell from here: assume it runs
  if (!pidRuns(h.pid)) return false;
  const now = processStart(h.pid);
  return h.started === undefined || now === undefined || now === h.started;
}

const held = new Map<string, { count: number; text: string }>();

function readHolder(file: string): { text: string; holder?: LockHolder } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return { text, holder: Number.isInteger(h?.pid) ? h : undefined };
  } catch {
    return { text }; // not a lock this code wrote (an empty or damaged file): taken over
  }
}

/** Create `file` holding `text`, atomically; false when it exists. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text); // no fsync: after a crash of the machine an empty or missing lock is stale anyway
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new RuntimeError(`${file}: ${(err as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const describe = (h: LockHolder) => {
  const since = h.since ? ` (since ${h.since.slice(11, 19)} UTC)` : '';
  return `${h.tool}, pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ''}${since}`;
};

/**
 * Take the lock `file` or throw a RuntimeError naming the holder. Within one process the lock is
 * re-entrant (counted): a tool that opens the same directory twice does not lock itself out.
 */
export function acquireLock(file: string, opts: LockOptions): Lock {
  const mine = held.get(file);
  if (mine) {
    mine.count++;
    return lockHandle(file);
  }
  const me: LockHolder = { pid: process.pid, tool: opts.tool, started: processStart(process.pid), host: hostname(), since: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(file, text)) {
      held.set(file, { count: 1, text });
      return lockHandle(file);
    }
    const found = readHolder(file);
    if (!found) continue; // released meanwhile: try again
    if (found.holder && holderAlive(found.holder)) {
      throw new RuntimeError(`${opts.what} is in use by ${describe(found.holder)}${opts.hint ? `; ${opts.hint}` : ''}`);
    }
    if (!takeOver(file, found.text, opts, found.holder)) pause(10);
  }
  throw new RuntimeError(`${opts.what}: could not take the lock ${file} (other processes keep taking it)`);
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Remove a stale lock, under a guard so that two processes never both remove it (the second one would
 * remove the first one's fresh lock). False when another process is taking it over right now.
 */
function takeOver(file: string, staleText: string, opts: LockOptions, stale?: LockHolder): boolean {
  const guard = `${file}.takeover`;
  const me = JSON.stringify({ pid: process.pid, tool: opts.tool, started: processStart(process.pid), host: hostname(), since: new Date().toISOString() });
  if (!createExclusive(guard, me)) {
    const g = readHolder(guard);
    if (g?.holder && holderAlive(g.holder)) return false; // another process is at it: the caller tries again
    rmSync(guard, { force: true }); // a taker that died during its few statements
    return true;
  }
  try {
    if (readHolder(file)?.text !== staleText) return true; // changed meanwhile: not ours to remove
    rmSync(file, { force: true });
    opts.log?.(`${opts.what}: took over the lock of ${stale ? describe(stale) : 'an unreadable lock file'}, which no longer runs`);
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

function lockHandle(file: string): Lock {
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      const mine = held.get(file);
      if (!mine || --mine.count > 0) return;
      held.delete(file);
      removeIfMine(file, mine.text);
    },
  };
}

function removeIfMine(file: string, text: string): void {
  try {
    if (readFileSync(file, 'utf8') === text) rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

process.on('exit', () => {
  for (const [file, { text }] of held) removeIfMine(file, text);
});
