/**
 * The one PostgreSQL binary COPY encoder (`COPY … (FORMAT binary)`), and its two outputs: a
 * pg-copy-streams `COPY … FROM STDIN` stream for a server, and bounded blobs (each a complete COPY file)
 * for PGlite's `COPY … FROM '/dev/blob'`, which cannot take COPY FROM STDIN.
 *
 * Layout: header `PGCOPY\n\377\r\n\0` + int32 flags + int32 extension length; per row int16 field count,
 * then per field int32 length (−1 = NULL) + the type's binary `recv` form; trailer int16 −1.
 * Rows are written into one growing scratch buffer and copied out once per row: no per-value allocations
 * (a 1536-d vector is 1536 `setFloat32` calls into that buffer).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RawJson, Utf8Text } from '../io/rawjson.js';

export const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** A value that does not fit its column: the loader turns it into a rejected record. */
export class ValueError extends Error {
  override name = 'ValueError';
}

/** Column types the encoder can write (Postgres `typname`s; arrays carry their element's OID). */
export type BinaryType =
  | 'text' | 'varchar' | 'bpchar' | 'name' | 'json' | 'jsonb' | 'bool' | 'int2' | 'int4' | 'int8'
  | 'float4' | 'float8' | 'timestamptz' | 'timestamp' | 'date' | 'uuid' | 'vector' | 'text[]' | 'varchar[]';

export const ELEMENT_OID = { 'text[]': 25, 'varchar[]': 1043 } as const;

export function isBinaryType(t: string): t is BinaryType {
  return [
    'text', 'varchar', 'bpchar', 'name', 'json', 'jsonb', 'bool', 'int2', 'int4', 'int8', 'float4', 'float8',
    'timestamptz', 'timestamp', 'date', 'uuid', 'vector', 'text[]', 'varchar[]',
  ].includes(t);
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;

/** A growable scratch buffer with a DataView over it. */
class Scratch {
  buf = Buffer.allocUnsafeSlow(1 << 16);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  pos = 0;
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  i16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, v);
    this.pos += 2;
  }
  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }
  /** Set when a string of the current row had NUL characters removed. */
  nulCleaned = false;
  /**
   * A length-prefixed UTF-8 string (the prefix is patched once the byte length is known). Postgres text
   * cannot hold NUL: those characters are removed (and noted in `nulCleaned`), as ct-prepare does.
   */
  str(s: string, prefix?: number): void {
    if (s.includes('\0')) {
      s = s.replaceAll('\0', '');
      this.nulCleaned = true;
    }
    this.ensure(5 + s.length * 3);
    const lenAt = this.pos;
    this.pos += 4;
    if (prefix !== undefined) this.buf[this.pos++] = prefix;
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.view.setInt32(lenAt, this.pos - lenAt - 4);
  }
  /**
   * `str` for text that is already UTF-8 (a Utf8Text or RawJson from Arrow input): the bytes are copied as
   * they are, unless they hold a NUL, which goes the string's way (removed).
   */
  utf8(b: Uint8Array, prefix?: number): void {
    // Not valid UTF-8 (a foreign writer's bytes): decoded, so that the bad sequences become U+FFFD as they would.
    if (b.indexOf(0) !== -1 || !isUtf8(b)) return this.str(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'), prefix);
    const extra = prefix === undefined ? 0 : 1;
    this.ensure(4 + extra + b.byteLength);
    this.view.setInt32(this.pos, b.byteLength + extra);
    this.pos += 4;
    if (prefix !== undefined) this.buf[this.pos++] = prefix;
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
}

/** The escape that jsonb cleaning looks for (`\u`), as UTF-8. */
const ESCAPE_U = Buffer.from('\\u');

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"` : typeof v === 'object' ? 'an object' : String(v);

const asText = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof RawJson ? v.json : typeof v === 'object' ? JSON.stringify(v) : String(v);

function asInt(v: unknown, min: number, max: number, what: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ValueError(`expected ${what}, got ${describe(v)}`);
  return n;
}

function asTimeMs(v: unknown): number {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' || typeof v === 'number' ? new Date(v).getTime() : NaN;
  if (!Number.isFinite(ms)) throw new ValueError(`expected a date/time, got ${describe(v)}`);
  return ms;
}

/**
 * A date: `YYYY-MM-DD`, or month-only `YYYY-MM` (the first of the month) or `YYYY` (1 January), as
 * ClinicalTrials.gov gives them; also a timestamp or a Date (its UTC day). Anything else, or a day that
 * does not exist, is refused.
 */
function asDateMs(v: unknown): number {
  if (typeof v === 'string') {
    const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(v.trim());
    if (m) {
      const [y, mo, d] = [Number(m[1]), Number(m[2] ?? 1), Number(m[3] ?? 1)];
      const ms = Date.UTC(y, mo - 1, d);
      const back = new Date(ms);
      if (back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d) return ms;
      throw new ValueError(`expected a date, got ${describe(v)} (no such day)`);
    }
    if (!/^\d{4}-\d{2}-\d{2}T/.test(v.trim())) throw new ValueError(`expected a date YYYY-MM-DD (or YYYY-MM), got ${describe(v)}`);
  }
  return asTimeMs(v);
}

/**
 * JSON text for a jsonb value. A string that holds a JSON object or array (nested data another tool handed
 * over as JSON text, e.g. an Arrow Utf8 column) is that object or array, not a JSON string.
 */
function jsonText(v: unknown): string {
  if (typeof v === 'string') {
    const t = v.trimStart();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        JSON.parse(v);
        return v;
      } catch {
        // not JSON after all: a string
      }
    }
  }
  return JSON.stringify(v);
}

/** Write one non-null value of type `t` (length prefix included). */
function writeValue(s: Scratch, t: BinaryType, v: unknown, dims: number | undefined): void {
  if (v instanceof Utf8Text) {
    if (t === 'text' || t === 'varchar' || t === 'bpchar' || t === 'name' || t === 'json') return s.utf8(v.utf8);
    v = v.toString(); // a number or a date in a text cell, or JSON text for jsonb: read as a string
  }
  switch (t) {
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
    case 'json':
      if (v instanceof RawJson && v.utf8) return s.utf8(v.utf8);
      return s.str(asText(v));
    case 'jsonb':
      // jsonb binary = version byte 1 + JSON text; UTF-8 JSON without `\u` escapes goes as it is.
      if (v instanceof RawJson && v.utf8 && Buffer.from(v.utf8.buffer, v.utf8.byteOffset, v.utf8.byteLength).indexOf(ESCAPE_U) === -1) return s.utf8(v.utf8, 1);
      return s.str(jsonbText(s, v), 1);
    case 'bool':
      if (typeof v !== 'boolean') throw new ValueError(`expected true or false, got ${describe(v)}`);
      s.i32(1);
      s.ensure(1);
      s.buf[s.pos++] = v ? 1 : 0;
      return;
    case 'int2':
      s.i32(2);
      return s.i16(asInt(v, -32768, 32767, 'a smallint'));
    case 'int4':
      s.i32(4);
      return s.i32(asInt(v, -(2 ** 31), 2 ** 31 - 1, 'an integer'));
    case 'int8':
      s.i32(8);
      s.ensure(8);
      s.view.setBigInt64(s.pos, BigInt(asInt(v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'an integer')));
      s.pos += 8;
      return;
    case 'float4':
    case 'float8': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || Number.isNaN(n)) throw new ValueError(`expected a number, got ${describe(v)}`);
      if (t === 'float4') {
        s.i32(4);
        s.ensure(4);
        s.view.setFloat32(s.pos, n);
        s.pos += 4;
      } else {
        s.i32(8);
        s.ensure(8);
        s.view.setFloat64(s.pos, n);
        s.pos += 8;
      }
      return;
    }
    case 'timestamptz':
    case 'timestamp':
      s.i32(8);
      s.ensure(8);
      s.view.setBigInt64(s.pos, BigInt(Math.round(asTimeMs(v) - PG_EPOCH_MS)) * 1000n);
      s.pos += 8;
      return;
    case 'date':
      s.i32(4);
      return s.i32(Math.floor((asDateMs(v) - PG_EPOCH_MS) / DAY_MS));
    case 'uuid': {
      const hex = typeof v === 'string' ? v.replace(/-/g, '') : '';
      if (!/^[0-9a-f]{32}$/i.test(hex)) throw new ValueError(`expected a UUID, got ${describe(v)}`);
      s.i32(16);
      s.ensure(16);
      s.pos += s.buf.write(hex, s.pos, 'hex');
      return;
    }
    case 'vector':
      return writeVector(s, v, dims);
    case 'text[]':
    case 'varchar[]':
      return writeTextArray(s, v, ELEMENT_OID[t]);
  }
}

/**
 * JSON text that Postgres jsonb accepts: `\u0000` (jsonb cannot hold NUL) is removed and a lone surrogate
 * escape (`\ud800`, invalid in jsonb) becomes U+FFFD, as it does in text columns. Escaped backslashes are
 * skipped, so a literal `\\u0000` in the data stays as it is.
 */
function jsonbText(s: Scratch, v: unknown): string {
  if (v instanceof RawJson) {
    // JSON text as read goes as it is; one with escapes is normalised first (JSON.stringify leaves no escaped
    // surrogate pair, so what the cleaning below finds is a lone surrogate).
    if (!v.json.includes('\\u')) return v.json;
    v = v.value;
  }
  const json = jsonText(v);
  if (!json.includes('\\u')) return json;
  return json.replace(/\\\\|\\u0000|\\ud[89a-f][0-9a-f]{2}/gi, (m) => {
    if (m === '\\\\') return m;
    if (m === '\\u0000') {
      s.nulCleaned = true;
      return '';
    }
    return '\ufffd';
  });
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** pgvector's binary form: int16 dimensions, int16 unused, float4 each (big-endian). */
function writeVector(s: Scratch, v: unknown, dims: number | undefined): void {
  const isVec = Array.isArray(v) || v instanceof Float32Array || v instanceof Float64Array;
  if (!isVec) throw new ValueError(`expected a vector (array of numbers), got ${describe(v)}`);
  const a = v as ArrayLike<unknown>;
  const n = a.length;
  if (dims !== undefined && n !== dims) throw new DimensionError(n, dims);
  if (n === 0 || n > 16000) throw new ValueError(`a vector needs 1 to 16000 dimensions, got ${n}`);
  s.ensure(8 + 4 * n);
  const view = s.view;
  let p = s.pos;
  view.setInt32(p, 4 + 4 * n);
  view.setInt16(p + 4, n);
  view.setInt16(p + 6, 0);
  p += 8;
  if (v instanceof Float32Array) {
    // Arrow input gives float32 views (little-endian): copy the bytes and swap them to big-endian at once.
    for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) throw new ValueError(`vector element ${i} is not a finite number`);
    s.buf.set(new Uint8Array(v.buffer, v.byteOffset, 4 * n), p);
    if (LITTLE_ENDIAN) s.buf.subarray(p, p + 4 * n).swap32();
    s.pos = p + 4 * n;
    return;
  }
  for (let i = 0; i < n; i++, p += 4) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new ValueError(`vector element ${i} is not a finite number`);
    // pgvector refuses infinite elements (the whole batch): one that float32 cannot hold is this record's problem.
    if (!Number.isFinite(Math.fround(x))) throw new ValueError(`vector element ${i} (${x}) is beyond the float32 range`);
    view.setFloat32(p, x);
  }
  s.pos = p;
}

/** A one-dimensional array of text: int32 ndim, int32 has-nulls, int32 element OID, [int32 size, int32 lower bound], elements. */
function writeTextArray(s: Scratch, v: unknown, elemOid: number): void {
  if (!Array.isArray(v)) throw new ValueError(`expected an array of strings, got ${describe(v)}`);
  const lenAt = s.pos;
  s.i32(0);
  s.i32(v.length ? 1 : 0);
  s.i32(v.some((x) => x === null || x === undefined) ? 1 : 0);
  s.i32(elemOid);
  if (v.length) {
    s.i32(v.length);
    s.i32(1);
  }
  for (const x of v) {
    if (x === null || x === undefined) s.i32(-1);
    else s.str(asText(x));
  }
  s.view.setInt32(lenAt, s.pos - lenAt - 4);
}

/** A vector whose length differs from the column's dimension (the loader rejects that record, naming both). */
export class DimensionError extends ValueError {
  override name = 'DimensionError';
  constructor(
    readonly got: number,
    readonly expected: number,
  ) {
    super(`vector has ${got} dimensions, the column has ${expected}`);
  }
}

export interface EncoderColumn {
  name: string;
  type: BinaryType;
  /** For vector columns: the required length. */
  dims?: number;
}

/** The size of a RowArena slab. */
export const SLAB_BYTES = 4 << 20;

/**
 * Recycles the arenas' slabs: a run reuses the same few slabs batch after batch. Fresh memory costs a page
 * fault per 4 KB and keeps the garbage collector busy (copying 20k rows of 6.5 KB into fresh 4 MB slabs took
 * 100–250 ms, into reused ones 6–30 ms).
 */
export class SlabPool {
  private readonly free: Buffer[] = [];
  /** `keep`: slabs held back at most (two 16 MB batches in flight need about 10). */
  constructor(
    readonly slabSize = SLAB_BYTES,
    private readonly keep = 12,
  ) {}
  take(min: number): Buffer {
    if (min <= this.slabSize && this.free.length) return this.free.pop()!;
    return Buffer.allocUnsafeSlow(Math.max(this.slabSize, min));
  }
  give(slabs: readonly Buffer[]): void {
    for (const slab of slabs) if (slab.length === this.slabSize && this.free.length < this.keep) this.free.push(slab);
  }
}

/**
 * Holds encoded rows in 4 MB slabs: a row is a view into a slab, so a batch of rows costs a few large
 * allocations instead of one per row (rows of ~12 KB are each too big for Node's buffer pool), and
 * consecutive rows are contiguous, so they go to the server without being copied again.
 */
export class RowArena {
  private readonly slabs: Buffer[] = [];
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;
  bytes = 0;
  constructor(private readonly pool = new SlabPool()) {}
  add(row: Buffer): Buffer {
    if (this.used + row.length > this.slab.length) {
      this.slab = this.pool.take(row.length);
      this.slabs.push(this.slab);
      this.used = 0;
    }
    const view = this.slab.subarray(this.used, this.used + row.length);
    row.copy(view);
    this.used += row.length;
    this.bytes += row.length;
    return view;
  }
  /** The rows are no longer needed (their batch committed): the slabs go back to the pool. */
  release(): void {
    this.pool.give(this.slabs.splice(0));
    this.slab = Buffer.alloc(0);
    this.used = 0;
    this.bytes = 0;
  }
}

/** Bytes of the row digest (SHA-256) that a RowEncoder with `digest` appends as a last bytea field. */
export const DIGEST_BYTES = 32;

/** The digest at the end of a row encoded with `digest` (a view, not a copy). */
export const rowDigest = (row: Buffer): Buffer => row.subarray(row.length - DIGEST_BYTES);

/** Encodes rows (values in column order) into binary COPY row bytes. */
export class RowEncoder {
  private readonly s = new Scratch();
  /** The last row encoded had NUL characters removed from a string. */
  nulCleaned = false;
  /** With `digest`: the columns' names and types, hashed before each row, so other columns never give the same digest. */
  private readonly signature: Buffer | undefined;
  /**
   * `digest`: each row gets one more field, a bytea SHA-256 of the signature and the row's bytes before it
   * (see rowDigest): equal digests, equal rows, whatever the input format that gave the values.
   */
  constructor(
    readonly columns: EncoderColumn[],
    opts: { digest?: boolean } = {},
  ) {
    if (opts.digest) this.signature = Buffer.from(JSON.stringify(columns.map((c) => [c.name, c.type, c.dims ?? null])));
  }

  /**
   * One row → its bytes (copied into `arena` when given, else into a new Buffer).
   * Throws ValueError naming the column when a value does not fit.
   */
  encode(values: readonly unknown[], arena?: RowArena): Buffer {
    const s = this.s;
    s.pos = 0;
    s.nulCleaned = false;
    s.i16(this.columns.length + (this.signature ? 1 : 0));
    for (let i = 0; i < this.columns.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) {
        s.i32(-1);
        continue;
      }
      const c = this.columns[i];
      try {
        writeValue(s, c.type, v, c.dims);
      } catch (err) {
        if (err instanceof ValueError) err.message = `field "${c.name}": ${err.message}`;
        throw err;
      }
    }
    if (this.signature) {
      const digest = createHash('sha256').update(this.signature).update(s.buf.subarray(0, s.pos)).digest();
      s.i32(DIGEST_BYTES);
      s.ensure(DIGEST_BYTES);
      s.pos += digest.copy(s.buf, s.pos);
    }
    this.nulCleaned = s.nulCleaned;
    const bytes = s.buf.subarray(0, s.pos);
    return arena ? arena.add(bytes) : Buffer.from(bytes);
  }
}

/** Server output: stream header, rows, trailer into a `COPY … FROM STDIN (FORMAT binary)` stream. */
export async function writeCopyStream(target: Writable, rows: readonly Buffer[]): Promise<void> {
  async function* bytes() {
    yield COPY_HEADER;
    // Long runs of adjacent rows (a slab of the arena) are written as they are; short pieces are grouped
    // into ~1 MB writes: fewer socket writes, bounded extra memory.
    let group: Buffer[] = [];
    let size = 0;
    for (const run of adjacentRuns(rows)) {
      if (run.length >= LONG_RUN) {
        if (size) yield Buffer.concat(group, size);
        yield run;
        group = [];
        size = 0;
        continue;
      }
      group.push(run);
      size += run.length;
      if (size >= 1 << 20) {
        yield Buffer.concat(group, size);
        group = [];
        size = 0;
      }
    }
    group.push(COPY_TRAILER);
    yield Buffer.concat(group);
  }
  await pipeline(bytes, target);
}

const LONG_RUN = 64 << 10;

/** Rows that lie back to back in memory, joined into one view each (no copying). */
export function* adjacentRuns(rows: readonly Buffer[]): Generator<Buffer> {
  let buffer: ArrayBufferLike | undefined;
  let start = 0;
  let end = 0;
  for (const r of rows) {
    if (r.buffer === buffer && r.byteOffset === end) {
      end += r.length;
      continue;
    }
    if (buffer) yield Buffer.from(buffer, start, end - start);
    buffer = r.buffer;
    start = r.byteOffset;
    end = start + r.length;
  }
  if (buffer) yield Buffer.from(buffer, start, end - start);
}

/** PGlite output: complete COPY files of at most `maxRows` rows or about `maxBytes` bytes each. */
export function* copyBlobs(rows: readonly Buffer[], maxRows = 1000, maxBytes = 8 << 20): Generator<Buffer> {
  let group: Buffer[] = [COPY_HEADER];
  let size = COPY_HEADER.length;
  for (const r of rows) {
    if (group.length > 1 && (group.length - 1 >= maxRows || size + r.length > maxBytes)) {
      group.push(COPY_TRAILER);
      yield Buffer.concat(group);
      group = [COPY_HEADER];
      size = COPY_HEADER.length;
    }
    group.push(r);
    size += r.length;
  }
  if (group.length > 1) {
    group.push(COPY_TRAILER);
    yield Buffer.concat(group);
  }
}
