/**
 * Writing records: NDJSON (default), Arrow IPC or Parquet to stdout or `-o FILE`, optionally teed to a
 * checkpoint file. Arrow goes to stdout and to `.arrows` files as the IPC stream format, to other files as
 * the IPC file format (magic and footer: what file readers such as polars `read_ipc` or pyarrow
 * `open_file` expect); the batches are built once and serialized per target. Parquet: zstd, one row group
 * per batch. Honours backpressure on stdout; EPIPE ends the output quietly (the tee, if any, goes on
 * so the work is not lost); files are written atomically (see AtomicFile).
 */
import type { Writable } from 'node:stream';
import type { RecordBatch, Schema } from 'apache-arrow';
import { ArrowBatcher, IpcWriter, containerForPath, type Rec } from './arrow.js';
import { AtomicFile, fileError } from './atomic-file.js';
import { OutputClosed } from './errors.js';
import type { Format } from './input.js';
import { ParquetWriter } from './parquet.js';
import { stringifyRecord } from './rawjson.js';

/** Serializes record batches for one target. */
interface BatchSink {
  /** undefined = stdout */
  file: AtomicFile | undefined;
  write(batch: RecordBatch): Buffer | Promise<Buffer>;
  finish(schema: Schema): Buffer | Promise<Buffer>;
}

function batchSink(format: Format, file: AtomicFile | undefined): BatchSink {
  if (format === 'parquet') {
    const w = new ParquetWriter();
    return { file, write: (b) => w.write(b), finish: (s) => w.finish(s) };
  }
  const w = new IpcWriter(file ? containerForPath(file.path) : 'stream');
  return { file, write: (b) => w.write(b), finish: (s) => w.finish(s) };
}

export interface OutputOptions {
  /** Tool name, for metadata. */
  tool: string;
  version: string;
  format: Format;
  /** `-o FILE`: write here (atomically) instead of stdout; `-` or undefined = stdout. */
  out?: string;
  /** `--tee FILE`: also write here, atomically, with FILE.meta.json. */
  tee?: string;
  /** Redacted options, recorded in the metadata. */
  options: Record<string, unknown>;
  stdout?: Writable;
}

const FLUSH_BYTES = 1 << 16;

export class RecordWriter {
  count = 0;
  /** Bytes of output produced (as written to each target). */
  bytes = 0;
  /** True once the stdout reader went away. */
  stdoutClosed = false;
  readonly startedAt = new Date();
  private readonly files: AtomicFile[] = [];
  private readonly stdout: Writable | undefined;
  private readonly batcher: ArrowBatcher | undefined;
  private readonly sinks: BatchSink[] = [];
  /** NDJSON output not yet written: `pending[0, pendingLength)`. */
  private pending = Buffer.allocUnsafe(FLUSH_BYTES * 2);
  private pendingLength = 0;
  private stdoutError: Error | undefined;
  private extraMeta: Record<string, unknown> = {};

  constructor(private readonly opts: OutputOptions) {
    if (opts.out && opts.out !== '-') this.files.push(new AtomicFile(opts.out));
    else this.stdout = opts.stdout ?? process.stdout;
    if (opts.tee) this.files.push(new AtomicFile(opts.tee));
    if (opts.format !== 'ndjson') {
      this.batcher = new ArrowBatcher();
      if (this.stdout) this.sinks.push(batchSink(opts.format, undefined));
      for (const f of this.files) this.sinks.push(batchSink(opts.format, f));
    }
    if (this.stdout) {
      this.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') this.stdoutClosed = true;
        else this.stdoutError = err;
      });
    }
    this.writePartialMeta();
  }

  /** Checkpoint files this writer produces (for messages). */
  get paths(): string[] {
    return this.files.map((f) => f.path);
  }

  /** The `.partial` files a failed or interrupted run leaves (special targets have none). */
  get partials(): string[] {
    return this.files.filter((f) => !f.direct).map((f) => f.partial);
  }

  /** Add tool-specific facts to the metadata (e.g. ct-fetch's paging state); rewrites the partial meta. */
  setMeta(extra: Record<string, unknown>): void {
    Object.assign(this.extraMeta, extra);
    this.writePartialMeta();
  }

  private meta(status: 'partial' | 'complete', file?: AtomicFile): Record<string, unknown> {
    return {
      tool: this.opts.tool,
      version: this.opts.version,
      status,
      format: this.opts.format,
      options: this.opts.options,
      started_at: this.startedAt.toISOString(),
      finished_at: status === 'complete' ? new Date().toISOString() : null,
      records: this.count,
      bytes: this.bytes,
      ...(file ? { bytes: file.bytes } : {}),
      ...this.extraMeta,
    };
  }

  private writePartialMeta(): void {
    for (const f of this.files) f.writePartialMeta(this.meta('partial', f));
  }

  /**
   * Write one record. `json`, when given, is the record already serialized (e.g. its input line with fields
   * appended), as text or as UTF-8 bytes (copied before this returns, so a caller may reuse its buffer):
   * NDJSON output uses it as is; Arrow output encodes `rec`.
   */
  async write(rec: Rec, json?: string | Uint8Array): Promise<void> {
    this.count++;
    if (this.batcher) {
      await this.writeBatches(this.batcher.push(rec));
    } else {
      this.append(json ?? stringifyRecord(rec));
      if (this.pendingLength >= FLUSH_BYTES) await this.flushText();
    }
  }

  /** One NDJSON line into the pending bytes (encoded there: no intermediate string or buffer). */
  private append(line: string | Uint8Array): void {
    const max = (typeof line === 'string' ? line.length * 3 : line.length) + 1; // UTF-8: ≤ 3 bytes per UTF-16 unit
    if (this.pendingLength + max > this.pending.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.pending.length * 2, this.pendingLength + max));
      this.pending.copy(bigger, 0, 0, this.pendingLength);
      this.pending = bigger;
    }
    if (typeof line === 'string') this.pendingLength += this.pending.write(line, this.pendingLength, 'utf8');
    else {
      this.pending.set(line, this.pendingLength);
      this.pendingLength += line.length;
    }
    this.pending[this.pendingLength++] = 0x0a;
  }

  /**
   * Push every record written so far out to the files and stdout now (NDJSON text buffer, or the current
   * Arrow batch), so that a checkpoint recorded afterwards (setMeta) never counts records still in memory.
   */
  async flush(): Promise<void> {
    if (this.batcher) await this.writeBatches(this.batcher.flush());
    else await this.flushText();
  }

  private async writeBatches(batches: RecordBatch[]): Promise<void> {
    for (const batch of batches) {
      for (const sink of this.sinks) {
        const bytes = await sink.write(batch);
        if (bytes.length) await this.emit(bytes, sink);
      }
    }
  }

  private async flushText(): Promise<void> {
    if (this.pendingLength === 0) return;
    // stdout may hold on to the bytes until they are written: they go out in a buffer of their own.
    const buf = this.pending.subarray(0, this.pendingLength);
    this.pending = Buffer.allocUnsafe(Math.max(FLUSH_BYTES * 2, Math.min(this.pending.length, 1 << 20)));
    this.pendingLength = 0;
    await this.emit(buf);
  }

  /** Bytes to every target, or (Arrow, Parquet) to the one target they were serialized for. */
  private async emit(buf: Buffer, sink?: BatchSink): Promise<void> {
    if (this.stdoutError) throw fileError('stdout', this.stdoutError);
    if (sink?.file) {
      sink.file.write(buf);
      if (sink === this.sinks[0]) this.bytes += buf.length;
      return;
    }
    if (!sink || sink === this.sinks[0]) this.bytes += buf.length;
    if (!sink) for (const f of this.files) f.write(buf);
    const out = this.stdout;
    if (!out) return;
    if (this.stdoutClosed || out.destroyed) {
      this.stdoutClosed = true;
      if (this.files.length === 0) throw new OutputClosed();
      return;
    }
    if (!out.write(buf)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('error', done);
          out.off('close', done);
          resolve();
        };
        out.on('drain', done);
        out.on('error', done);
        out.on('close', done);
      });
    }
  }

  /** Finish the stream (Arrow end-of-stream), fsync and rename the files into place, write their metadata. */
  async close(extraMeta: Record<string, unknown> = {}): Promise<void> {
    Object.assign(this.extraMeta, extraMeta);
    if (this.batcher) {
      await this.writeBatches(this.batcher.flush()).catch((e) => this.ignoreClosed(e));
      const schema = this.batcher.finalSchema();
      for (const sink of this.sinks) {
        const tail = await sink.finish(schema);
        if (tail.length) await this.emit(tail, sink).catch((e) => this.ignoreClosed(e));
      }
    } else await this.flushText().catch((e) => this.ignoreClosed(e));
    for (const f of this.files) f.commit(this.meta('complete', f));
    const out = this.stdout;
    if (out && !this.stdoutClosed && !out.destroyed && out !== process.stdout) {
      await new Promise<void>((resolve) => out.end(resolve));
    }
  }

  private ignoreClosed(e: unknown): void {
    if (!(e instanceof OutputClosed)) throw e;
  }

  /** The run failed: keep the partial files as they are (never renamed into place). */
  abandon(): void {
    for (const f of this.files) f.abandon();
  }
}

/** Plain text to stdout (e.g. a table for a terminal), with backpressure; EPIPE → OutputClosed (exit 0). */
export async function writeStdout(text: string, out: Writable = process.stdout): Promise<void> {
  if (out.destroyed) throw new OutputClosed();
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' ? new OutputClosed() : err);
    out.once('error', onError);
    const ok = out.write(text, () => {
      out.off('error', onError);
      resolve();
    });
    void ok;
  });
}
