/**
 * Parquet through parquet-wasm (the Rust arrow-rs reader and writer compiled to WebAssembly), which speaks
 * Arrow IPC: our record batches go in as IPC bytes, Parquet bytes come out one row group per batch
 * (zstd-compressed), so memory stays flat however long the output.
 * Reading gives record batches a row group at a time, handed to the same Arrow → records code as Arrow input. The WebAssembly module (5 MB) is
 * loaded only when Parquet is written or read.
 */
import { openAsBlob } from 'node:fs';
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { IpcWriter } from './arrow.js';

type Wasm = typeof import('parquet-wasm/node');
let wasm: Promise<Wasm> | undefined;
const loadWasm = (): Promise<Wasm> => (wasm ??= import('parquet-wasm/node'));

/** Parquet files begin (and end) with these four bytes. */
export const PARQUET_MAGIC = Buffer.from('PAR1');

/** One record batch (with its schema) as Arrow IPC stream bytes, the form parquet-wasm takes. */
const ipcOf = (batch: RecordBatch): Uint8Array => RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);

/**
 * Record batches of one schema → Parquet bytes. `write` returns the bytes of the row groups finished so
 * far; `finish` the rest and the footer. Each batch becomes (at most) one row group.
 */
export class ParquetWriter {
  private chunks: Uint8Array[] = [];
  private feed: ((batch: unknown) => void) | undefined;
  private wanted: Promise<void> | undefined;
  private onWanted: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly maxRows = 1024) {}

  private async start(): Promise<void> {
    const pw = await loadWasm();
    this.wanted = new Promise((resolve) => (this.onWanted = resolve));
    // A pull source: the writer asks for the next batch only when done with the previous one.
    const source = new ReadableStream(
      {
        pull: (controller) =>
          new Promise<void>((resolve) => {
            this.feed = (batch) => {
              this.feed = undefined;
              this.wanted = new Promise((r) => (this.onWanted = r));
              if (batch === null) controller.close();
              else controller.enqueue(batch);
              resolve();
            };
            this.onWanted?.();
          }),
      },
      { highWaterMark: 0 },
    );
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression.ZSTD)
      .setMaxRowGroupSize(this.maxRows)
      .setCreatedBy('ct-pipeline (parquet-wasm)')
      .build();
    // The transform reads the first batch (for the schema) before it resolves: do not wait for it here.
    const transformed = pw.transformParquetStream(source, props);
    this.drained = (async () => {
      try {
        const out = await transformed;
        for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) this.chunks.push(chunk);
      } catch (err) {
        this.failure = err;
        this.onWanted?.();
      }
    })();
  }

  private take(): Buffer {
    if (this.failure) throw new Error(`Parquet writer: ${(this.failure as Error).message ?? String(this.failure)}`);
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }

  private async give(batch: unknown): Promise<void> {
    if (!this.drained) await this.start();
    await this.wanted;
    if (this.failure) return;
    this.feed!(batch);
  }

  async write(batch: RecordBatch): Promise<Buffer> {
    const pw = await loadWasm();
    const table = pw.Table.fromIPCStream(ipcOf(batch));
    const wasmBatch = table.recordBatch(0); // shares the table's arrays (reference-counted in WebAssembly memory)
    table.free();
    await this.give(wasmBatch);
    await this.wanted; // the batch has been taken in and encoded
    // Release it now rather than when the garbage collector gets to its finalizer: WebAssembly memory
    // never shrinks, so waiting made it grow with the output.
    try {
      wasmBatch?.free();
    } catch {
      // already released by the writer
    }
    return this.take();
  }

  /** The last row group and the footer. With no batches at all, a file of the schema and no rows. */
  async finish(schema: Schema): Promise<Buffer> {
    if (!this.drained) {
      const pw = await loadWasm();
      const empty = pw.Table.fromIPCStream(new IpcWriter('stream').finish(schema));
      return Buffer.from(pw.writeParquet(empty, new pw.WriterPropertiesBuilder().setCompression(pw.Compression.ZSTD).build()));
    }
    await this.give(null);
    await this.drained;
    return this.take();
  }
}

/** The record batches of a Parquet file, one row group's worth at a time. */
export async function* readParquetBatches(path: string): AsyncGenerator<RecordBatch> {
  const pw = await loadWasm();
  const file = await pw.ParquetFile.fromFile(await openAsBlob(path));
  try {
    const stream = await file.stream({ batchSize: 1024 });
    for await (const b of stream as unknown as AsyncIterable<{ intoIPCStream(): Uint8Array }>) {
      for (const batch of RecordBatchReader.from(b.intoIPCStream())) yield batch;
    }
  } finally {
    file.free();
  }
}
