/**
 * The persistent embedding cache ("never pay twice"), keyed by (provider, model, dimensions, SHA-256 of the
 * text). One directory per (provider, model, dimensions) namespace holds append-only segment files; each
 * process appends to a segment of its own (`seg-<time>-<pid>-<random>.bin`), so concurrent runs need no locks.
 *
 * Entry (fixed size for a namespace, 44 + 4·dims bytes, native byte order):
 *   magic "CTE1" (4) | dims u32 (4) | SHA-256 of the text (32) | CRC-32 of key+payload (4) | dims × float32
 * A batch's entries are appended with one write and fsync'd before they count as cached.
 *
 * Opening reads no vectors: each segment `seg-….bin` may have a sidecar `seg-….idx` listing the keys of its
 * first entries (written when a writer closes its segment, or by a reader that had to scan one):
 *   magic "CTI1" (4) | dims u32 (4) | count u32 (4) | CRC-32 of the keys (4) | count × SHA-256 key (32)
 * The in-memory index (key → segment, offset) is built from the sidecars; only what lies past a sidecar's
 * count (a segment still being written, or one without a valid sidecar) is read and verified, and that scan
 * stops at the first incomplete or damaged entry (a write torn by kill -9 or a crash). A sidecar is only a
 * hint: a damaged one, or one that counts more entries than its segment holds, is ignored and the segment
 * scanned. Every lookup (get and has) reads its entry with pread and checks magic, key and CRC, so damage is a
 * miss, never a wrong vector.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RuntimeError } from '../io/errors.js';

const MAGIC = 0x31455443; // "CTE1" read as little-endian u32
const INDEX_MAGIC = 0x31495443; // "CTI1"
const HEADER = 44;
const INDEX_HEADER = 16;
const SEG_SHIFT = 2 ** 40; // index value = segment number · 2^40 + offset

export interface Namespace {
  provider: string;
  model: string;
  dims: number;
  /** A non-default server's redacted base URL: its vectors never mix with another server's. */
  scope?: string;
}

/** `$XDG_CACHE_HOME/ct-pipeline/embeddings`, else `~/.cache/ct-pipeline/embeddings`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ct-pipeline', 'embeddings');
}

/** The cache key of a text. */
export function textKey(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Directory name for a namespace: readable, and unique even when model names differ only in odd characters. */
export function namespaceDir(ns: Namespace): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
  // Without a scope the key is what it always was: existing caches stay valid.
  const key = ns.scope ? [ns.provider, ns.model, ns.dims, ns.scope] : [ns.provider, ns.model, ns.dims];
  const tag = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 8);
  const server = ns.scope ? `@${clean(ns.scope.replace(/^https?:\/\//, '')).slice(0, 60)}` : '';
  return `${ns.provider}${server}--${clean(ns.model)}--${ns.dims}-${tag}`;
}

export class EmbeddingCache {
  readonly dir: string;
  /** Segments found on open whose tail was torn or damaged (that part is ignored). */
  tornSegments = 0;
  private readonly stride: number;
  private readonly index = new Map<string, number>();
  private readonly segments: string[] = [];
  private readonly fds = new Map<number, number>();
  private writer: { seg: number; fh: fsp.FileHandle; size: number; keys: Buffer[] } | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(root: string, readonly ns: Namespace) {
    this.dir = join(root, namespaceDir(ns));
    this.stride = HEADER + 4 * ns.dims;
    try {
      mkdirSync(this.dir, { recursive: true });
      const about = join(this.dir, 'namespace.json');
      writeFileSync(`${about}.${process.pid}.tmp`, JSON.stringify(ns) + '\n');
      renameSync(`${about}.${process.pid}.tmp`, about);
    } catch (err) {
      throw new RuntimeError(`cannot use cache directory ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    for (const name of readdirSync(this.dir).filter((n) => /^seg-.*\.bin$/.test(n)).sort()) this.scan(name);
  }

  /** Number of cached vectors. */
  get size(): number {
    return this.index.size;
  }

  /** Whether a valid vector is cached for the key (reads and verifies the entry, like get). */
  has(key: Buffer): boolean {
    return this.get(key) !== undefined;
  }

  /** The cached vector, or undefined (absent, or damaged on disk). */
  get(key: Buffer): Float32Array | undefined {
    const k = key.toString('latin1');
    const at = this.index.get(k);
    if (at === undefined) return undefined;
    const seg = Math.floor(at / SEG_SHIFT);
    const buf = Buffer.allocUnsafeSlow(this.stride);
    const n = readSync(this.fd(seg), buf, 0, this.stride, at % SEG_SHIFT);
    if (n !== this.stride || !this.valid(buf) || !buf.subarray(8, 40).equals(key)) {
      this.index.delete(k);
      return undefined;
    }
    return new Float32Array(buf.buffer, buf.byteOffset + HEADER, this.ns.dims);
  }

  /** Append vectors (one write, then fsync); they count as cached once this resolves. Calls run in order. */
  put(entries: Array<[Buffer, Float32Array]>): Promise<void> {
    const buf = Buffer.allocUnsafe(entries.length * this.stride);
    entries.forEach(([key, vec], i) => {
      const o = i * this.stride;
      buf.writeUInt32LE(MAGIC, o);
      buf.writeUInt32LE(this.ns.dims, o + 4);
      key.copy(buf, o + 8);
      Buffer.from(vec.buffer, vec.byteOffset, vec.byteLength).copy(buf, o + HEADER);
      buf.writeUInt32LE(crc32(buf.subarray(o + HEADER, o + this.stride), crc32(key)), o + 40);
    });
    const job = this.chain.then(async () => {
      const w = this.writer ?? (await this.openWriter());
      const start = w.size;
      for (let off = 0; off < buf.length; ) off += (await w.fh.write(buf, off, buf.length - off)).bytesWritten;
      await w.fh.sync();
      w.size += buf.length;
      w.keys.push(Buffer.concat(entries.map(([key]) => key)));
      entries.forEach(([key], i) => this.index.set(key.toString('latin1'), w.seg * SEG_SHIFT + start + i * this.stride));
    });
    this.chain = job.catch(() => undefined);
    return job;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.writer?.fh.close();
    // The writer's own entries are all verified: list them, so the next open need not read them.
    if (this.writer) this.writeIndex(this.writer.seg, Buffer.concat(this.writer.keys));
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private valid(buf: Buffer): boolean {
    if (buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== this.ns.dims) return false;
    return buf.readUInt32LE(40) === crc32(buf.subarray(HEADER, this.stride), crc32(buf.subarray(8, 40)));
  }

  /**
   * Index a segment: the keys its sidecar lists, then its further entries, verified, up to the first torn or
   * damaged one (read in large chunks). A scan that found entries the sidecar lacks writes a new sidecar.
   */
  private scan(name: string): void {
    const seg = this.segments.push(name) - 1;
    const fd = this.fd(seg);
    const size = fstatSync(fd).size;
    const listed = this.readIndex(seg, size);
    const found: Buffer[] = [listed];
    let off = (listed.length / 32) * this.stride;
    const perChunk = Math.max(1, Math.floor((8 << 20) / this.stride));
    const chunk = Buffer.allocUnsafe(perChunk * this.stride);
    let torn = size % this.stride !== 0;
    scan: while (off + this.stride <= size) {
      const got = readSync(fd, chunk, 0, Math.min(chunk.length, size - off), off);
      const entries = Math.floor(got / this.stride);
      if (entries === 0) break;
      for (let i = 0; i < entries; i++) {
        const e = chunk.subarray(i * this.stride, (i + 1) * this.stride);
        if (!this.valid(e)) {
          torn = true;
          break scan;
        }
        this.index.set(e.subarray(8, 40).toString('latin1'), seg * SEG_SHIFT + off + i * this.stride);
      }
      found.push(Buffer.concat(Array.from({ length: entries }, (_, i) => chunk.subarray(i * this.stride + 8, i * this.stride + 40))));
      off += entries * this.stride;
    }
    if (torn) this.tornSegments++;
    if (found.length > 1) this.writeIndex(seg, Buffer.concat(found));
  }

  private indexPath(seg: number): string {
    return join(this.dir, this.segments[seg]!.replace(/\.bin$/, '.idx'));
  }

  /** Put the keys a segment's sidecar lists into the index; returns them (none without a usable sidecar). */
  private readIndex(seg: number, segmentSize: number): Buffer {
    const none = Buffer.alloc(0);
    let buf: Buffer;
    try {
      buf = readFileSync(this.indexPath(seg));
    } catch {
      return none;
    }
    if (buf.length < INDEX_HEADER || buf.readUInt32LE(0) !== INDEX_MAGIC || buf.readUInt32LE(4) !== this.ns.dims) return none;
    const count = buf.readUInt32LE(8);
    const keys = buf.subarray(INDEX_HEADER);
    // A sidecar that does not match its segment (damaged, or the segment was cut short) is not trusted.
    if (keys.length !== count * 32 || count * this.stride > segmentSize || crc32(keys) !== buf.readUInt32LE(12)) return none;
    for (let i = 0; i < count; i++) this.index.set(keys.toString('latin1', i * 32, (i + 1) * 32), seg * SEG_SHIFT + i * this.stride);
    return keys;
  }

  /**
   * Write a segment's sidecar listing the keys of its first entries (all verified), atomically. Best effort:
   * without a sidecar the next open scans the segment instead.
   */
  private writeIndex(seg: number, keys: Buffer): void {
    const count = keys.length / 32;
    const head = Buffer.alloc(INDEX_HEADER);
    head.writeUInt32LE(INDEX_MAGIC, 0);
    head.writeUInt32LE(this.ns.dims, 4);
    head.writeUInt32LE(count, 8);
    head.writeUInt32LE(crc32(keys), 12);
    const path = this.indexPath(seg);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, Buffer.concat([head, keys]));
      renameSync(tmp, path);
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  private fd(seg: number): number {
    let fd = this.fds.get(seg);
    if (fd === undefined) {
      fd = openSync(join(this.dir, this.segments[seg]!), 'r');
      this.fds.set(seg, fd);
    }
    return fd;
  }

  private async openWriter(): Promise<NonNullable<EmbeddingCache['writer']>> {
    const name = `seg-${Date.now().toString(36).padStart(9, '0')}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.bin`;
    const fh = await fsp.open(join(this.dir, name), 'ax');
    // Make the new file's directory entry durable too, or a crash could lose the whole segment.
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    const seg = this.segments.push(name) - 1;
    this.writer = { seg, fh, size: 0, keys: [] };
    return this.writer;
  }
}
