/**
 * Reading records: stdin or a file (`-` = stdin), NDJSON or Arrow IPC (stream or file format),
 * detected from the first bytes. Every item carries its position so errors can say `stdin:42`.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { batchToRecords, type ReadOptions } from './arrow.js';
import { RuntimeError } from './errors.js';

export type Format = 'ndjson' | 'arrow';
export type InputFormat = Format | 'arrow-file' | 'empty';

/** One input item. `value` is the parsed JSON value; when the line was not valid JSON, `error` says why. */
export interface InputItem {
  /** `stdin:42` or `path/to/file.ndjson:42`: the line (NDJSON) or row (Arrow), 1-based. */
  where: string;
  /** Line or row number, 1-based. */
  line: number;
  value?: unknown;
  /** Set when the item could not be parsed; `text` then holds the offending line. */
  error?: string;
  text?: string;
}

export interface Input extends AsyncIterable<InputItem> {
  /** `stdin` or the path as given. */
  readonly name: string;
  /** Known after the first bytes were read (`open` does that). */
  readonly format: InputFormat;
  /** Size in bytes when the input is a regular file, for progress and ETA. */
  readonly sizeBytes: number | undefined;
  /** Bytes consumed so far. */
  readonly bytesRead: number;
}

const ARROW_CONTINUATION = 0xffffffff;
const ARROW_FILE_MAGIC = Buffer.from('ARROW1');

/** Sniff the format from the first bytes: Arrow stream `ff ff ff ff`, Arrow file `ARROW1`, else NDJSON. */
export function detectFormat(head: Uint8Array): InputFormat {
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
    [Symbol.asyncIterator]() {
      switch (format) {
        case 'ndjson':
          return readNdjson(bytes(), name);
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

/** NDJSON lines → items. Tolerates a UTF-8 BOM, CRLF and blank lines; a bad line becomes an item with `error`. */
export async function* readNdjson(source: AsyncIterable<Buffer>, name: string): AsyncGenerator<InputItem> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  let first = true;
  const parse = (text: string): InputItem | undefined => {
    line++;
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return undefined;
    try {
      return { where: `${name}:${line}`, line, value: JSON.parse(text) };
    } catch (err) {
      return { where: `${name}:${line}`, line, error: `invalid JSON: ${(err as Error).message}`, text };
    }
  };
  for await (const chunk of source) {
    const s = rest + decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', start)) !== -1) {
      const item = parse(s.slice(start, nl));
      start = nl + 1;
      if (item) yield item;
    }
    rest = s.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) {
    const item = parse(rest);
    if (item) yield item;
  }
}

/** Arrow IPC stream (one or several concatenated streams) → items. */
async function* readArrow(source: AsyncIterable<Buffer>, name: string, opts: InputOptions): AsyncGenerator<InputItem> {
  let row = 0;
  try {
    for await (const reader of RecordBatchReader.readAll(source as AsyncIterable<Uint8Array>)) {
      for await (const batch of reader) {
        for (const value of batchToRecords(batch, opts)) {
          row++;
          yield { where: `${name}:${row}`, line: row, value };
        }
      }
    }
  } catch (err) {
    throw new RuntimeError(`${name}:${row + 1}: unreadable Arrow input: ${(err as Error).message}`);
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
  // apache-arrow takes anything with fd, stat and read for a file handle: note how far it has read.
  let end = 0;
  const handle = {
    fd: fh.fd,
    stat: () => fh.stat(),
    close: () => fh.close(),
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      const r = await fh.read(buffer, offset, length, position);
      end = Math.max(end, position + r.bytesRead);
      return r;
    },
  };
  let row = 0;
  const items = function* (batch: RecordBatch): Generator<InputItem> {
    for (const value of batchToRecords(batch, opts)) {
      row++;
      yield { where: `${name}:${row}`, line: row, value };
    }
  };
  try {
    const reader = await RecordBatchReader.from(handle as unknown as FileHandle);
    if (reader.isFile()) {
      // The footer is read first: count progress in batches.
      let batches = 0;
      for await (const batch of reader) {
        batches++;
        yield* items(batch);
        setBytes(Math.min(size, Math.round((size * batches) / Math.max(batches, reader.numRecordBatches || batches))));
      }
    } else {
      for await (const stream of RecordBatchReader.readAll(reader)) {
        for await (const batch of stream) {
          yield* items(batch);
          setBytes(end);
        }
      }
    }
    setBytes(size);
  } catch (err) {
    throw new RuntimeError(`${name}:${row + 1}: unreadable Arrow input: ${(err as Error).message}`);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
