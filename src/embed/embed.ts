/**
 * ct-embed's pipeline: input items → records with a vector, in input order.
 *
 * Each record's text is looked up in the cache; misses are token-counted (and truncated), batched and sent
 * while reading goes on; results are written to the cache and the records released in input order. Reading
 * waits while `maxInFlight` batches are out, so memory holds a few batches, never the whole input. A text
 * that is already waiting for its vector (a duplicate) joins it instead of being sent again.
 * Without a sender (`--dry-run`) the same code runs and only counts what would be sent.
 */
import type { Rec } from '../io/arrow.js';
import { notARecord, type InputItem } from '../io/input.js';
import { Batcher, type Batch, type BatchLimits } from './batching.js';
import { textKey, type EmbeddingCache } from './cache.js';
import { modelLabel, type Provider } from './providers/types.js';
import { BadAnswerError, type Outcome, type Sender } from './sender.js';
import { RuntimeError } from '../io/errors.js';
import type { TextOf } from './text.js';
import { fitTokens, MAX_INPUT_TOKENS } from './tokens.js';

export interface EmbedOptions {
  provider: Provider;
  /** The text to embed, or why the record has none that can be (a bad record). */
  text: TextOf;
  id: (rec: Rec) => string | undefined;
  embeddingField: string;
  /** Cut texts over the per-input limit (true) or reject their records (false, `--no-truncate`). */
  truncate: boolean;
  limits: BatchLimits;
  /** Batches sent and not yet answered before reading pauses. */
  maxInFlight: number;
  /**
   * Bytes of parked lines that add no text to a batch (repeats of a text already sent, records ready but
   * behind one that waits) before reading pauses until a batch returns (default PARKED_BYTES).
   */
  maxParkedBytes?: number;
  cache?: EmbeddingCache;
  /** Absent for a dry run. */
  sender?: Sender;
  /** Bad records (throws to stop the run when there is no rejects file). Called in input order. */
  reject: (item: InputItem, reason: string) => void;
}

export interface EmbedStats {
  records: number;
  /** Records written with a vector. */
  embedded: number;
  cached: number;
  /** Texts that appeared again while their first copy was still waiting: sent once. */
  duplicates: number;
  empty: number;
  truncated: number;
  rejected: number;
  /** What was (or, in a dry run, would be) sent, when nothing fails: texts, tokens, requests. */
  texts: number;
  tokens: number;
  batches: number;
}

export const emptyStats = (): EmbedStats => ({
  records: 0, embedded: 0, cached: 0, duplicates: 0, empty: 0, truncated: 0, rejected: 0, texts: 0, tokens: 0, batches: 0,
});

/**
 * Reading pauses while this many bytes of parked lines add no text to a batch (a repeat of a text already
 * sent, a cache hit or an empty text behind a record that waits) and a batch is out, as well as while
 * `maxInFlight` batches are out. The batches alone did not bound those: with no new text to send, reading went
 * on while one batch was out, parking every record read meanwhile. 20,000 prepared studies with repeated texts
 * against a local server parked 105 MB at once, and RSS kept that high-water mark (the freed lines leave the
 * malloc heap fragmented): 294–328 MB peak RSS; 236–259 MB with the bound on all parked lines alone. Records whose own text is in a
 * batch count only toward a bound PARKED_FACTOR times larger: distinct texts still have `--concurrency` + 1
 * batches out (about 11 MB of lines each for prepared studies), while a slow first batch, whose records hold
 * back the output of the later batches that came back, cannot make the whole input wait in memory.
 */
export const PARKED_BYTES = 32 << 20;
export const PARKED_FACTOR = 2;

interface Entry {
  item: InputItem;
  /** Absent while an NDJSON record waits for its vector (see `park`). */
  rec?: Rec;
  /** The line of a parked record, as UTF-8 bytes. */
  parked?: Buffer;
  /** Parked without adding a text to a batch (counted in riderBytes). */
  rider?: boolean;
  done: boolean;
  vector?: Float32Array | null;
  error?: string;
}

/** A text waiting for its vector, with every record that wants it. */
interface Wanted {
  key: Buffer;
  text: string;
  entries: Entry[];
}

/** A record read and its vector (null: its text was empty), before the two are put together for output. */
export interface Embedded {
  item: InputItem;
  /** The input record as parsed (item.value). */
  rec: Rec;
  vector: Float32Array | null;
}

/**
 * The output records: each input record with the vector field (a number array, or null for an empty text) and
 * `embedding_model` added, or replaced where the record had them. (ct-embed writes from `embedItems` through
 * `embeddedWriter`, which builds the same records faster.)
 */
export async function* embedStream(input: AsyncIterable<InputItem>, o: EmbedOptions, stats: EmbedStats): AsyncGenerator<Rec> {
  const label = modelLabel(o.provider);
  for await (const e of embedItems(input, o, stats)) {
    yield { ...e.rec, [o.embeddingField]: e.vector ? Array.from(e.vector) : null, embedding_model: e.vector ? label : null };
  }
}

/** The records with their vectors, in input order (see the module comment). */
export async function* embedItems(input: AsyncIterable<InputItem>, o: EmbedOptions, stats: EmbedStats): AsyncGenerator<Embedded> {
  const waiting = new Map<string, Wanted>();
  const queue: Entry[] = [];
  const maxParked = o.maxParkedBytes ?? PARKED_BYTES;
  /** Bytes of parked lines of records that added no text to a batch (see PARKED_BYTES), and of all. */
  let riderBytes = 0;
  let parkedBytes = 0;
  let inFlight = 0;
  let failure: unknown;
  let wake: () => void = () => undefined;
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    wake();
    changed = new Promise<void>((r) => (wake = r));
  };

  const settle = (w: Wanted, out: Outcome | undefined) => {
    for (const e of w.entries) {
      e.done = true;
      if (out instanceof Float32Array) e.vector = out;
      else if (out) e.error = out.error;
    }
  };

  const dispatch = (batch: Batch<Wanted>) => {
    stats.batches++;
    const number = stats.batches;
    stats.texts += batch.items.length;
    stats.tokens += batch.totalTokens;
    const sender = o.sender;
    if (!sender) {
      for (const w of batch.items) settle(w, undefined); // dry run: the key stays in `waiting`, so repeats count as duplicates
      return;
    }
    inFlight++;
    sender
      .send(batch.items.map((w) => w.text), batch.tokens)
      .then(async (outcomes) => {
        const fresh: Array<[Buffer, Float32Array]> = [];
        outcomes.forEach((out, i) => {
          if (out instanceof Float32Array) fresh.push([batch.items[i]!.key, out]);
        });
        if (o.cache && fresh.length) await o.cache.put(fresh);
        batch.items.forEach((w, i) => {
          settle(w, outcomes[i]);
          waiting.delete(w.key.toString('latin1'));
        });
      })
      .catch((err: unknown) => {
        if (err instanceof BadAnswerError) {
          const from = batch.items[0]!.entries[0]!.item.where;
          const to = batch.items.at(-1)!.entries[0]!.item.where;
          err = new RuntimeError(`batch ${number} (${from}–${to}): ${err.message}`);
        }
        failure ??= err;
      })
      .finally(() => {
        inFlight--;
        notify();
      });
  };
  const batcher = new Batcher<Wanted>(o.limits, dispatch);

  /**
   * A record that waits for its vector (its text is sent, or joins a text already sent) is held as its line's
   * UTF-8 bytes only, outside the JavaScript heap, and decoded and parsed again when it is written. A few
   * batches wait at once (up to 300,000 tokens each, `--concurrency` + 1 in flight: about 2,000 prepared
   * studies), and the parsed record of a prepared study (its `raw` as objects) takes several times its line's
   * memory, the line as a string up to twice its bytes. 10,000 studies against a local server peaked at
   * 616 MB RSS holding parsed records, 355 MB holding lines. Records from Arrow have no line: they are kept.
   */
  const park = (entry: Entry, rider: boolean) => {
    const json = entry.item.json;
    if (json === undefined) return;
    entry.parked = Buffer.from(json, 'utf8');
    parkedBytes += entry.parked.length;
    if (rider) {
      entry.rider = true;
      riderBytes += entry.parked.length;
    }
    entry.item.json = undefined;
    entry.item.value = undefined;
    entry.rec = undefined;
  };
  const unpark = (entry: Entry): Rec => {
    if (entry.rec) return entry.rec;
    const json = entry.parked!.toString('utf8');
    parkedBytes -= entry.parked!.length;
    if (entry.rider) riderBytes -= entry.parked!.length;
    entry.parked = undefined;
    entry.item.json = json;
    return (entry.item.value = JSON.parse(json) as Rec);
  };

  /** A record that is ready but behind one that waits is parked too (a run of cache hits behind a miss). */
  const behind = (entry: Entry) => {
    if (o.sender && queue[0] !== entry) park(entry, true);
  };

  /** Records at the head of the queue that are ready, in order. */
  function* drain(): Generator<Embedded> {
    while (queue.length > 0 && queue[0]!.done) {
      const e = queue.shift()!;
      if (e.error !== undefined) {
        const rec = e.rec ?? (e.parked ? unpark(e) : undefined); // the rejects file gets the line back too
        const id = rec ? o.id(rec) : undefined;
        stats.rejected++;
        o.reject(e.item, id ? `${id}: ${e.error}` : e.error);
        continue;
      }
      if (!o.sender) continue; // dry run: nothing to write
      if (e.vector) stats.embedded++;
      yield { item: e.item, rec: unpark(e), vector: e.vector ?? null };
    }
  }

  const take = (entry: Entry, rec: Rec) => {
    const text = o.text(rec);
    if (typeof text !== 'string') {
      entry.done = true;
      entry.error = text.error;
      return;
    }
    if (text === '') {
      stats.empty++;
      entry.done = true;
      entry.vector = null;
      behind(entry);
      return;
    }
    const key = textKey(text);
    const k = key.toString('latin1');
    // A dry run only asks whether the vector is there; a real run reads it.
    const hit = o.cache && (o.sender ? o.cache.get(key) : o.cache.has(key));
    if (hit) {
      stats.cached++;
      entry.done = true;
      if (hit instanceof Float32Array) entry.vector = hit;
      behind(entry);
      return;
    }
    const w = o.cache ? waiting.get(k) : undefined;
    if (w) {
      stats.duplicates++;
      if (o.sender) w.entries.push(entry), park(entry, true);
      else entry.done = true;
      return;
    }
    let send = text;
    let tokens = 0;
    if (o.provider.remote) {
      const fit = fitTokens(text, MAX_INPUT_TOKENS);
      if (fit.truncated && !o.truncate) {
        entry.done = true;
        entry.error = `text has more than ${MAX_INPUT_TOKENS} tokens (--no-truncate)`;
        return;
      }
      if (fit.truncated) stats.truncated++;
      send = fit.text;
      tokens = fit.tokens;
    }
    const wanted: Wanted = { key, text: send, entries: [entry] };
    if (o.sender) park(entry, false);
    if (o.cache) waiting.set(k, wanted);
    batcher.add(wanted, tokens, stats.records);
  };

  for await (const item of input) {
    stats.records++;
    const entry: Entry = { item, done: false };
    queue.push(entry);
    const v = item.value;
    if (item.error !== undefined) {
      entry.done = true;
      entry.error = item.error;
    } else if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      entry.done = true;
      entry.error = notARecord(v);
    } else {
      entry.rec = v as Rec;
      take(entry, entry.rec);
    }
    batcher.tick(stats.records);
    yield* drain();
    while ((inFlight >= o.maxInFlight || (inFlight > 0 && (riderBytes > maxParked || parkedBytes > PARKED_FACTOR * maxParked))) && failure === undefined) {
      await changed;
      yield* drain();
    }
    if (failure !== undefined) throw failure;
  }
  batcher.flush();
  for (;;) {
    if (failure !== undefined) throw failure;
    yield* drain();
    if (queue.length === 0) break;
    await changed;
  }
}
