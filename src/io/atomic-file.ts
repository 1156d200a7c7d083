/**
 * A file that appears under its name only when complete. Bytes go to `NAME.partial` beside it; `commit`
 * fsyncs, writes `NAME.meta.json`, then renames the partial into place. A failed or killed run leaves
 * only `NAME.partial` (and `NAME.partial.meta.json`), which a later run can find.
 *
 * A target that exists and is not a regular file (a device such as /dev/null, a FIFO, a socket,
 * `/dev/fd/N` of a pipe, or a symlink to one of those) is written directly: no partial, no rename, no
 * meta file — renaming over a device would replace it with a regular file.
 *
 * Every file-system error names the file (`out.ndjson.partial: ENOSPC: no space left on device`), and the
 * temporary file of a small write is removed when the write fails.
 */
import { close as closeAsync, fdatasync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { acquireLock, pidRuns, type Lock } from '../util/lock.js';
import { RuntimeError } from './errors.js';

export const partialName = (path: string): string => `${path}.partial`;
export const metaName = (path: string): string => `${path}.meta.json`;

/** The lock of an output file while a run writes it (see AtomicFile). */
export const writeLockName = (path: string): string => `${path}.lock`;

/**
 * Take the write lock of `path`: one run at a time writes a file (two would write the same NAME.partial
 * and rename a mix of both into place). Re-entrant within a process; released at commit, abandon or exit;
 * a lock left by a killed run is taken over (util/lock.ts).
 */
export function lockForWriting(path: string): Lock {
  const tool = basename(process.argv[1] ?? 'node');
  return acquireLock(writeLockName(path), {
    tool,
    what: path,
    hint: 'another run is writing this file: wait for it to finish, or write another file',
    log: (m) => process.stderr.write(`${tool}: ${m}\n`),
  });
}

/** True when `path` exists (symlinks followed) and is something other than a regular file or a directory. */
export function isSpecialFile(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/** A file-system error as one line that names the file: `PATH: CODE: what` (Node's own text often has no path). */
export function fileError(path: string, err: unknown): RuntimeError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof RuntimeError) return e;
  const what = e?.code && e.message ? e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '').replace(/, \w+$/, '') : String(err);
  return new RuntimeError(`${path}: ${e?.code ? `${e.code}: ` : ''}${what}`);
}

/** Run `fn`; a thrown file-system error comes back naming `path`. */
function naming<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fileError(path, err);
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Remove the temporary siblings of `path` (`NAME.tmp-PID`, files or directories) whose process no longer
 * runs: what a run killed between writing a temporary file and renaming it left behind.
 */
export function removeAbandonedTemps(path: string): void {
  const dir = dirname(path) || '.';
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidRuns(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** Paths whose abandoned temporary files this process has looked for (once per path is enough). */
const swept = new Set<string>();

/**
 * Write a small file atomically (temp + fsync + rename); a special target is written directly. The first
 * write of a path in a process also removes temporary files of it that a killed run left.
 */
export function writeFileAtomic(path: string, text: string): void {
  if (isSpecialFile(path)) {
    const fd = naming(path, () => openSync(path, 'w'));
    try {
      naming(path, () => writeAll(fd, Buffer.from(text)));
    } finally {
      closeSync(fd);
    }
    return;
  }
  if (!swept.has(path)) {
    swept.add(path);
    removeAbandonedTemps(path);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = naming(path, () => openSync(tmp, 'w'));
    try {
      naming(path, () => {
        writeAll(fd, Buffer.from(text));
        fsyncSync(fd);
      });
    } finally {
      closeSync(fd);
    }
    naming(path, () => renameSync(tmp, path));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export class AtomicFile {
  /** Where the bytes go while the run lasts: `NAME.partial`, or NAME itself for a special target. */
  readonly partial: string;
  /** The target is a device, FIFO, socket …: written directly, no rename, no meta file. */
  readonly direct: boolean;
  private fd: number | undefined;
  bytes = 0;
  /** Background flushing: a second descriptor of the partial file, fdatasync'ed off the main thread. */
  private syncFd: number | undefined;
  /** Held while the file is written (not for a special target). */
  private lock: Lock | undefined;
  private syncing = false;
  private synced = 0;

  constructor(readonly path: string) {
    this.direct = isSpecialFile(path);
    if (this.direct) {
      this.partial = path;
      this.fd = naming(path, () => openSync(path, 'w'));
      return;
    }
    naming(path, () => mkdirSync(dirname(path) || '.', { recursive: true }));
    this.partial = partialName(path);
    this.lock = lockForWriting(path);
    try {
      this.fd = naming(this.partial, () => openSync(this.partial, 'w'));
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Synchronous write: the bytes are in the kernel once this returns, so a kill -9 loses none of them. */
  write(buf: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.path}: write after close`);
    const fd = this.fd;
    naming(this.partial, () => writeAll(fd, buf));
    this.bytes += buf.length;
    if (!this.direct && this.bytes - this.synced >= SYNC_EVERY && !this.syncing) this.syncInBackground();
  }

  /**
   * Flush what is written so far to disk on the thread pool (the other core), so that the fsync of `commit`
   * finds little left to do. Through a descriptor of its own, closed only when its last flush is done:
   * `commit` and `abandon` can close theirs at any time. Errors are left to the final fsync to report.
   */
  private syncInBackground(): void {
    try {
      this.syncFd ??= openSync(this.partial, 'r+');
    } catch {
      return;
    }
    const fd = this.syncFd;
    const upTo = this.bytes;
    this.syncing = true;
    fdatasync(fd, () => {
      this.syncing = false;
      this.synced = upTo;
      if (this.fd === undefined) {
        this.syncFd = undefined;
        closeAsync(fd, () => undefined);
      }
    });
  }

  private closeSyncFd(): void {
    if (this.syncFd !== undefined && !this.syncing) {
      closeSync(this.syncFd);
      this.syncFd = undefined;
    }
  }

  /** Describe the partial file while the run is going on (for resume and for `make checkpoints`). */
  writePartialMeta(meta: object): void {
    if (this.direct) return;
    writeFileAtomic(metaName(this.partial), JSON.stringify(meta, null, 2) + '\n');
  }

  /** fsync, write the meta file, rename into place (a special target is only closed). */
  commit(meta?: object): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    if (this.direct) {
      closeSync(fd);
      return;
    }
    try {
      naming(this.partial, () => fsyncSync(fd));
    } finally {
      closeSync(fd);
      this.closeSyncFd();
    }
    if (meta) writeFileAtomic(metaName(this.path), JSON.stringify(meta, null, 2) + '\n');
    naming(this.path, () => renameSync(this.partial, this.path));
    rmSync(metaName(this.partial), { force: true });
    removeAbandonedTemps(metaName(this.partial));
    this.lock?.release();
    try {
      const dfd = openSync(dirname(this.path) || '.', 'r');
      fsyncSync(dfd);
      closeSync(dfd);
    } catch {
      // fsync of a directory is not supported everywhere; the rename is still atomic.
    }
  }

  /** Stop writing and keep the partial file (for a later resume or a look). */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      if (!this.direct) fsyncSync(this.fd);
    } catch {
      // ignore: best effort
    }
    closeSync(this.fd);
    this.fd = undefined;
    this.closeSyncFd();
    this.lock?.release();
  }
}

/** Bytes written between background flushes (see AtomicFile.syncInBackground). */
const SYNC_EVERY = 16 << 20;
