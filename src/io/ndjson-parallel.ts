/**
 * NDJSON parsed on other cores: the lines go in chunks (0.5 MB or more, whole lines) to parsing workers
 * (ndjson-worker.ts), and their records come back in input order, numbered as readNdjson numbers them.
 *
 * A worker does what costs: decoding the line, JSON.parse (a study's nested `raw`, 1536 numbers of a vector),
 * the depth check, finding the objects' text. What comes back is shaped for the tool that asked (WorkerParse):
 * only the fields it reads, each top-level object as a RawJson over the line's own bytes (ct-load copies
 * them into its COPY rows as they are), each vector field as a Float32Array. Copying such a record from the
 * worker costs a small part of parsing it. Bad lines come back as readNdjson would give them (same reason,
 * same position). `json` of a shaped item decodes its line only when read (for a rejects file).
 *
 * At most two chunks per worker are in flight, so memory stays a few MB whatever the input's size.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RuntimeError } from './errors.js';
import type { InputItem } from './ndjson-line.js';
import { RawJson } from './rawjson.js';

/** What the tool wants of each record (sent to every worker once). */
export interface WorkerParse {
  /** Parsing workers (≥ 1). */
  workers: number;
  /** Top-level fields whose arrays of numbers become Float32Array (when float32 holds every number). */
  float32?: string[];
  /** The top-level fields the tool reads; the others are dropped in the worker. Undefined: all. */
  keep?: string[];
}

/** @internal A chunk of whole lines (the last one maybe without its `\n`, at the end of the input). */
export interface ChunkJob {
  seq: number;
  buf: Uint8Array;
  /** The chunk starts at the input's first line (which may start with a BOM). */
  first: boolean;
}

/** @internal One line's result: `i` its index in the chunk; [s, e) the bytes of its JSON text. */
export interface LineOut {
  i: number;
  s: number;
  e: number;
  v?: unknown;
  /** Objects given as text: [field, start, end) in the chunk's bytes, or [field, text]. */
  raws?: Array<[string, number, number] | [string, string]>;
  err?: string;
  text?: string;
}

/** @internal */
export interface ChunkResult {
  seq: number;
  /** Lines in the chunk, blank ones included. */
  lines: number;
  items: LineOut[];
}

/**
 * How many parsing workers a tool starts: CT_PARSE_WORKERS (0: parse on the main thread), else one when the
 * machine has a second core and the tool says a worker pays off (`worthIt`).
 */
export function parseWorkerCount(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism(), worthIt = true): number {
  const v = env.CT_PARSE_WORKERS?.trim();
  if (v) {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0 && n <= 64) return n;
  }
  return cores >= 2 && worthIt ? 1 : 0;
}

/** Bytes per chunk sent to a worker, at least (whole lines). */
const CHUNK_BYTES = 1 << 19;

/**
 * The young generation of a worker's heap (V8's default would grow it to 16 MB semi-spaces): each line's
 * parse is garbage at once, so a small one costs little. 100,000 embedded studies into Postgres: 35.9 s and
 * 249 MB peak RSS with the default, 38.1 s / 227 MB with 8, 40.3 s / 223 MB with 4 (47.6 s / 187 MB parsed
 * on the main thread).
 */
const WORKER_YOUNG_MB = 8;

/** An item whose value a worker shaped; its line's text is decoded only when asked for. */
class ShapedItem implements InputItem {
  readonly shaped = true as const;
  constructor(
    readonly where: string,
    readonly line: number,
    readonly value: unknown,
    private readonly chunk: Buffer,
    private readonly s: number,
    private readonly e: number,
  ) {}
  get json(): string {
    return this.chunk.toString('utf8', this.s, this.e);
  }
}

interface Pending {
  buf: Buffer;
  result: Promise<ChunkResult>;
}

/**
 * The items of `source` after `linesBefore` lines, parsed by `spec.workers` workers. `head`: bytes already
 * taken from the source (they come first). The workers stop when the generator ends, however it ends.
 */
export async function* parallelNdjson(
  head: Buffer[],
  source: AsyncIterator<Buffer>,
  name: string,
  linesBefore: number,
  spec: WorkerParse,
): AsyncGenerator<InputItem> {
  const n = Math.max(1, Math.floor(spec.workers));
  const { workers: _, ...shape } = spec;
  const workers: Array<{ w: Worker; inFlight: number }> = [];
  const waiting = new Map<number, { resolve: (r: ChunkResult) => void; reject: (e: unknown) => void }>();
  let broken: Error | undefined;
  const fail = (err: Error) => {
    broken ??= new RuntimeError(`${name}: a parsing worker failed: ${err.message}`);
    for (const w of waiting.values()) w.reject(broken);
    waiting.clear();
  };
  const start = () => {
    const w = new Worker(new URL('./ndjson-worker.js', import.meta.url), {
      workerData: shape,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      // node's own flags carry over to the worker, except the one a worker refuses (`node --input-type=module -e …`)
      execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
    });
    // Kept alive only while it has a chunk: then the reader waits for it (PGlite holds no socket that would keep
    // the process alive meanwhile); an idle worker never holds the process up.
    w.unref();
    const slot = { w, inFlight: 0 };
    w.on('message', (r: ChunkResult) => {
      if (--slot.inFlight === 0) w.unref();
      const p = waiting.get(r.seq);
      waiting.delete(r.seq);
      p?.resolve(r);
    });
    w.on('error', fail);
    w.on('exit', (code) => {
      if (waiting.size) fail(new Error(`exited with code ${code}`));
    });
    workers.push(slot);
    return slot;
  };

  let seq = 0;
  let first = linesBefore === 0;
  const queue: Pending[] = [];
  const send = (buf: Buffer) => {
    const slot = workers.length < n ? start() : workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const job: ChunkJob = { seq: seq++, buf: new Uint8Array(buf), first };
    first = false;
    const result = broken
      ? Promise.reject(broken)
      : new Promise<ChunkResult>((resolve, reject) => waiting.set(job.seq, { resolve, reject }));
    result.catch(() => undefined); // awaited in order below; a failure meanwhile is not unhandled
    if (!broken) {
      if (slot.inFlight++ === 0) slot.w.ref();
      slot.w.postMessage(job, [job.buf.buffer as ArrayBuffer]);
    }
    queue.push({ buf, result });
  };

  // Reading: whole lines of at least CHUNK_BYTES per chunk; what follows the last `\n` waits for more.
  let carry: Buffer[] = [];
  let carried = 0;
  let ended = false;
  const pendingHead = head.filter((b) => b.length > 0);
  const next = async (): Promise<Buffer | undefined> => {
    if (pendingHead.length) return pendingHead.shift();
    const r = await source.next();
    return r.done ? undefined : r.value;
  };
  const fill = async () => {
    while (!ended && queue.length < 2 * n) {
      const buf = await next();
      if (buf === undefined) {
        ended = true;
        if (carried) send(Buffer.concat(carry));
        carry = [];
        carried = 0;
        break;
      }
      const nl = buf.lastIndexOf(10);
      if (nl < 0 || carried + nl + 1 < CHUNK_BYTES) {
        carry.push(buf);
        carried += buf.length;
        continue;
      }
      send(carried ? Buffer.concat([...carry, buf.subarray(0, nl + 1)]) : buf.subarray(0, nl + 1));
      carry = nl + 1 < buf.length ? [buf.subarray(nl + 1)] : [];
      carried = buf.length - nl - 1;
    }
  };
  let filling: Promise<void> | undefined;
  let readError: unknown;
  const kick = () => {
    if (filling || ended || readError !== undefined) return;
    filling = fill()
      .catch((err: unknown) => void (readError = err))
      .finally(() => (filling = undefined));
  };

  let lineBase = linesBefore;
  try {
    kick();
    for (;;) {
      if (!queue.length) {
        if (filling) await filling;
        if (readError !== undefined) throw readError;
        if (!queue.length) {
          if (ended) return;
          kick();
          continue;
        }
      }
      const job = queue.shift()!;
      kick();
      const r = await job.result;
      for (const o of r.items) {
        const line = lineBase + o.i + 1;
        const where = `${name}:${line}`;
        if (o.err !== undefined) {
          yield { where, line, error: o.err, text: o.text };
          continue;
        }
        const v = o.v as Record<string, unknown>;
        if (o.raws) {
          for (const raw of o.raws) v[raw[0]] = raw.length === 3 ? new RawJson(job.buf.subarray(raw[1], raw[2])) : new RawJson(raw[1]);
        }
        yield new ShapedItem(where, line, v, job.buf, o.s, o.e);
      }
      lineBase += r.lines;
    }
  } finally {
    for (const { w } of workers) void w.terminate();
  }
}
