/**
 * Reading records: stdin or a file (`-` = stdin), NDJSON or Arrow IPC (stream or file format),
 * detected from the first bytes. Every item carries its position so errors can say `stdin:42`.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { batchToRecords, type ReadOptions } from './arrow.js';
import { RuntimeError } from './errors.js';
import { parseNdjsonLine, type InputItem } from './ndjson-line.js';
import { parallelNdjson, type WorkerParse } from './ndjson-parallel.js';
import { PARQUET_MAGIC, readParquetBatches } from './parquet.js';

export { MAX_DEPTH, parseNdjsonLine, tooDeep, type InputItem } from './ndjson-line.js';

export type Format = 'ndjson' | 'arrow' | 'parquet';
export type InputFormat = Format | 'arrow-file' | 'empty';

export interface Input extends AsyncIterable<InputItem> {
  /** `stdin` or the path as given. */
  readonly name: string;
  /** Known after the first bytes were read (`open` does that). */
  readonly format: InputFormat;
  /** Size in bytes when the input is a regular file, for progress and ETA. */
  readonly sizeBytes: number | undefined;
  /** Bytes consumed so far. */
  readonly bytesRead: number;
  /**
   * NDJSON: parse the lines not yet read in worker threads, their records shaped as `spec` says (see
   * ndjson-parallel.ts). Returns false (and changes nothing) for other formats. May be called between reads.
   */
  parseInWorkers?(spec: WorkerParse): boolean;
}

const ARROW_CONTINUATION = 0xffffffff;
const ARROW_FILE_MAGIC = Buffer.from('ARROW1');

/** Sniff the format from the first bytes: Arrow stream `ff ff ff ff`, Arrow file `ARROW1`, Parquet `PAR1`, else NDJSON. */
export function detectFormat(head: Uint8Array): InputFormat {
  if (head.length >= 4 && Buffer.from(head.buffer, head.byteOffset, 4).equals(PARQUET_MAGIC)) return 'parquet';
  if (head.length >= 4 && Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0) === ARROW_CONTINUATION) {
    return 'arrow';
  }
  if (head.length >= 6 && Buffer.from(head.buffer, head.byteOffset, 6).equals(ARROW_FILE_MAGIC)) return 'arrow-file';
  // NDJSON (maybe after a BOM and white space); an input of only white space has no records.
  let i = 0;
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  return i >= head.length ? 'empty' : 'ndjson';
}

/** How Arrow input becomes records (NDJSON has only JSON values). */
export type InputOptions = ReadOptions;

/** Open `-` (stdin) or a file and detect its format. Throws RuntimeError when the file cannot be opened. */
export async function openInput(path: string, stdin: Readable = process.stdin, opts: InputOptions = {}): Promise<Input> {
  const isStdin = path === '-' || path === '';
  const name = isStdin ? 'stdin' : path;
  let sizeBytes: number | undefined;
  let stream: Readable;
  if (isStdin) {
    stream = stdin;
  } else {
    try {
      const st = await fsp.stat(path);
      if (st.isFile()) sizeBytes = st.size;
      if (st.isDirectory()) throw new RuntimeError(`cannot read ${path}: it is a directory, not a file`);
    } catch (err) {
      if (err instanceof RuntimeError) throw err;
      throw new RuntimeError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    stream = createReadStream(path, { highWaterMark: 1 << 20 });
  }
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Read until we have enough bytes to decide (or the input ends).
  const head: Buffer[] = [];
  let headLen = 0;
  let format: InputFormat = 'empty';
  for (;;) {
    const r = await chunks.next();
    if (r.done) break;
    const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(buf);
    headLen += buf.length;
    format = detectFormat(Buffer.concat(head));
    if (format !== 'empty' && headLen >= 8) break;
  }
  if (headLen > 0) format = detectFormat(Buffer.concat(head));
  let bytesRead = 0;
  const control: NdjsonControl = {};
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const b of head) {
      bytesRead += b.length;
      yield b;
    }
    for (;;) {
      const r = await chunks.next();
      if (r.done) return;
      const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      bytesRead += buf.length;
      yield buf;
    }
  }
  const input: Input = {
    name,
    format,
    sizeBytes,
    get bytesRead() {
      return bytesRead;
    },
    parseInWorkers(spec: WorkerParse) {
      if (format !== 'ndjson') return false;
      control.workers = spec;
      return true;
    },
    [Symbol.asyncIterator]() {
      switch (format) {
        case 'ndjson':
          return readNdjson(bytes(), name, control);
        case 'parquet':
          return readParquet(stream, sizeBytes === undefined ? bytes() : undefined, path, name, opts);
        case 'arrow':
        case 'arrow-file':
          // A regular file is read through a file handle: the file format keeps its footer at the end, and
          // each message of either format is read whole into a buffer of its own (a byte stream's 1 MB chunks
          // would be joined into every batch body: a fifth of the reading time with vectors). From a pipe the
          // stream format is read as it comes; the file format is buffered by the reader.
          if (sizeBytes !== undefined) {
            stream.destroy();
            return readArrowFile(path, name, sizeBytes, (n) => (bytesRead = n), opts);
          }
          return readArrow(bytes(), name, opts);
        default:
          return (async function* () {})();
      }
    },
  };
  return input;
}

/** The input of a tool that reads none (ct-fetch): no records, named `none`; stdin is left alone. */
export function noInput(): Input {
  return { name: 'none', format: 'empty', sizeBytes: undefined, bytesRead: 0, [Symbol.asyncIterator]: async function* () {} };
}

/** Set by Input.parseInWorkers: readNdjson hands the rest of the input to parsing workers at its next read. */
export interface NdjsonControl {
  workers?: WorkerParse;
}

/**
 * NDJSON lines → items. Tolerates a UTF-8 BOM, CRLF and blank lines; a bad line becomes an item with `error`.
 * Lines are cut from the bytes (a `\n` byte is never part of a multi-byte UTF-8 character) and each is
 * decoded once; invalid UTF-8 becomes U+FFFD. Once `control.workers` is set, the lines not yet read are
 * parsed by workers (parallelNdjson), numbered on from here.
 */
export async function* readNdjson(source: AsyncIterable<Buffer>, name: string, control: NdjsonControl = {}): AsyncGenerator<InputItem> {
  const it = source[Symbol.asyncIterator]();
  let rest: Buffer[] = [];
  let line = 0;
  for (;;) {
    if (control.workers) return yield* parallelNdjson(rest, it, name, line, control.workers);
    const r = await it.next();
    if (r.done) break;
    const chunk = r.value;
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
      let text: string;
      if (rest.length) {
        rest.push(chunk.subarray(start, nl));
        text = Buffer.concat(rest).toString('utf8');
        rest = [];
      } else text = chunk.toString('utf8', start, nl);
      start = nl + 1;
      line++;
      const item = parseNdjsonLine(text, name, line, line === 1);
      if (item) yield item;
      if (control.workers) {
        if (start < chunk.length) rest.push(chunk.subarray(start));
        return yield* parallelNdjson(rest, it, name, line, control.workers);
      }
    }
    if (start < chunk.length) rest.push(start === 0 ? chunk : chunk.subarray(start));
  }
  if (rest.length) {
    line++;
    const item = parseNdjsonLine(Buffer.concat(rest).toString('utf8'), name, line, line === 1);
    if (item) yield item;
  }
}

/** Numbers each record of the Arrow input and says where a batch could not be read (`batch 3, row 17`). */
class ArrowItems {
  row = 0;
  batches = 0;
  private inBatch = 0;
  constructor(
    private readonly name: string,
    private readonly opts: InputOptions,
  ) {}
  *items(batch: RecordBatch): Generator<InputItem> {
    this.batches++;
    this.inBatch = 0;
    for (const value of batchToRecords(batch, this.opts)) {
      this.row++;
      this.inBatch++;
      yield { where: `${this.name}:${this.row}`, line: this.row, value };
    }
  }
  error(err: unknown, what = 'Arrow'): RuntimeError {
    const at = this.batches ? ` (batch ${this.batches}, row ${this.inBatch + 1})` : '';
    return new RuntimeError(`${this.name}:${this.row + 1}${at}: unreadable ${what} input: ${(err as Error).message}`);
  }
}

/** Why a parsed value is not a record (a JSON object), with the way out for a whole array on one line. */
export function notARecord(v: unknown): string {
  const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
  return `not a record (a JSON object), got ${got}${Array.isArray(v) ? "; one record per line wanted: jq -c '.[]' splits an array" : ''}`;
}

/** Arrow IPC stream (one or several concatenated streams) → items. */
async function* readArrow(source: AsyncIterable<Buffer>, name: string, opts: InputOptions): AsyncGenerator<InputItem> {
  const at = new ArrowItems(name, opts);
  try {
    for await (const reader of RecordBatchReader.readAll(source as AsyncIterable<Uint8Array>)) {
      for await (const batch of reader) yield* at.items(batch);
    }
  } catch (err) {
    throw at.error(err);
  }
}

/**
 * Parquet → items, a row group at a time. Parquet keeps its metadata at the end, so from a pipe the bytes
 * are first spooled to a temporary file (removed afterwards).
 */
async function* readParquet(
  stream: Readable,
  piped: AsyncIterable<Buffer> | undefined,
  path: string,
  name: string,
  opts: InputOptions,
): AsyncGenerator<InputItem> {
  let file = path;
  let tmp: string | undefined;
  if (piped) {
    tmp = await fsp.mkdtemp(join(tmpdir(), 'ct-parquet-'));
    file = join(tmp, 'input.parquet');
    const fh = await fsp.open(file, 'w');
    try {
      for await (const b of piped) await fh.write(b);
    } finally {
      await fh.close();
    }
  } else stream.destroy();
  const at = new ArrowItems(name, opts);
  try {
    for await (const batch of readParquetBatches(file)) yield* at.items(batch);
  } catch (err) {
    throw at.error(err, 'Parquet');
  } finally {
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** An Arrow file, stream or file format (the stream format maybe several streams back to back) → items. */
async function* readArrowFile(
  path: string,
  name: string,
  size: number,
  setBytes: (n: number) => void,
  opts: InputOptions,
): AsyncGenerator<InputItem> {
  const fh = await fsp.open(path, 'r');
  // A file-format file without its closing magic was cut short (a killed run's FILE.partial): its body is
  // the stream format after the 8-byte leading magic, so read that, up to the last complete batch.
  const head = Buffer.alloc(8);
  const tail = Buffer.alloc(6);
  await fh.read(head, 0, 8, 0);
  if (size >= 6) await fh.read(tail, 0, 6, size - 6);
  const skip = head.subarray(0, 6).equals(ARROW_FILE_MAGIC) && !tail.equals(ARROW_FILE_MAGIC) ? 8 : 0;
  // apache-arrow takes anything with fd, stat and read for a file handle: note how far it has read.
  let end = 0;
  const handle = {
    fd: fh.fd,
    stat: async () => ({ ...(await fh.stat()), size: size - skip }),
    close: () => fh.close(),
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      const r = await fh.read(buffer, offset, length, position + skip);
      end = Math.max(end, position + skip + r.bytesRead);
      return r;
    },
  };
  const at = new ArrowItems(name, opts);
  try {
    const reader = await RecordBatchReader.from(handle as unknown as FileHandle);
    if (reader.isFile()) {
      // The footer is read first: count progress in batches.
      for await (const batch of reader) {
        yield* at.items(batch);
        const n = at.batches;
        setBytes(Math.min(size, Math.round((size * n) / Math.max(n, reader.numRecordBatches || n))));
      }
    } else {
      for await (const stream of RecordBatchReader.readAll(reader)) {
        for await (const batch of stream) {
          yield* at.items(batch);
          setBytes(end);
        }
      }
    }
    setBytes(size);
  } catch (err) {
    throw at.error(err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
