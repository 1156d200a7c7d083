/**
 * A file that appears under its name only when complete. Bytes go to `NAME.partial` beside it; `commit`
 * fsyncs, writes `NAME.meta.json`, then renames the partial into place. A failed or killed run leaves
 * only `NAME.partial` (and `NAME.partial.meta.json`), which a later run can find.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const partialName = (path: string): string => `${path}.partial`;
export const metaName = (path: string): string => `${path}.meta.json`;

/** Write a small file atomically (temp + fsync + rename). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export class AtomicFile {
  readonly partial: string;
  private fd: number | undefined;
  bytes = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path) || '.', { recursive: true });
    this.partial = partialName(path);
    this.fd = openSync(this.partial, 'w');
  }

  /** Synchronous write: the bytes are in the kernel once this returns, so a kill -9 loses none of them. */
  write(buf: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.path}: write after close`);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.bytes += buf.length;
  }

  /** Describe the partial file while the run is going on (for resume and for `make checkpoints`). */
  writePartialMeta(meta: object): void {
    writeFileAtomic(metaName(this.partial), JSON.stringify(meta, null, 2) + '\n');
  }

  /** fsync, write the meta file, rename into place. */
  commit(meta?: object): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
    if (meta) writeFileAtomic(metaName(this.path), JSON.stringify(meta, null, 2) + '\n');
    renameSync(this.partial, this.path);
    rmSync(metaName(this.partial), { force: true });
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
      fsyncSync(this.fd);
    } catch {
      // ignore: best effort
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}
