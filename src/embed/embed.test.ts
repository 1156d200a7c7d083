import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rec } from '../io/arrow.js';
import type { InputItem } from '../io/input.js';
import { EmbeddingCache, textKey } from './cache.js';
import { AdaptiveConcurrency } from './concurrency.js';
import { embedItems, embedStream, emptyStats, type EmbedOptions } from './embed.js';
import { ProviderError, type Provider } from './providers/types.js';
import { Sender } from './sender.js';
import { textGetter, idGetter } from './text.js';

/** A fake remote model that counts batches, answers after a random delay and tracks concurrency. */
function counting(delayMs = 3) {
  const p = {
    name: 'fake', model: 'count', dims: 3, remote: true, batches: [] as string[][], active: 0, peak: 0,
    async embed(texts: string[]) {
      p.batches.push(texts);
      p.active++;
      p.peak = Math.max(p.peak, p.active);
      await new Promise((r) => setTimeout(r, Math.random() * delayMs));
      p.active--;
      return texts.map((t) => Float32Array.from([t.length, 0, 1]));
    },
  };
  return p;
}

async function* items(recs: unknown[], pulled = { n: 0 }): AsyncGenerator<InputItem> {
  for (let i = 0; i < recs.length; i++) {
    pulled.n++;
    yield { where: `stdin:${i + 1}`, line: i + 1, value: recs[i] };
  }
}

function options(provider: Provider, extra: Partial<EmbedOptions> = {}, concurrency = 2): EmbedOptions {
  return {
    provider,
    text: textGetter({ textField: 'text' }),
    id: idGetter(),
    embeddingField: 'embedding',
    truncate: true,
    limits: { maxInputs: 8, maxTokens: 300_000, maxSpan: 16 },
    maxInFlight: concurrency + 1,
    sender: new Sender({ provider, concurrency: new AdaptiveConcurrency(concurrency), maxRetries: 0 }),
    reject: (item, reason) => {
      throw new Error(`${item.where}: ${reason}`);
    },
    ...extra,
  };
}

async function collect(gen: AsyncIterable<Rec>): Promise<Rec[]> {
  const out: Rec[] = [];
  for await (const r of gen) out.push(r);
  return out;
}

test('100 texts at batch size 8 make 13 batches; output in input order', async () => {
  const p = counting();
  const recs = Array.from({ length: 100 }, (_, i) => ({ id: i, text: 'x'.repeat(i + 1) }));
  const stats = emptyStats();
  const out = await collect(embedStream(items(recs), options(p), stats));
  assert.equal(p.batches.length, 13);
  assert.ok(p.batches.every((b) => b.length <= 8));
  assert.deepEqual(out.map((r) => r.id), recs.map((r) => r.id));
  assert.deepEqual(out[41]!.embedding, [42, 0, 1]);
  assert.equal(out[0]!.embedding_model, 'fake/count@3');
  assert.equal(stats.texts, 100);
  assert.ok(p.peak <= 2);
});

test('reads ahead only a few batches, not the whole input', async () => {
  const p = counting(20);
  const pulled = { n: 0 };
  const recs = Array.from({ length: 400 }, (_, i) => ({ id: i, text: `t${i}` }));
  let worst = 0;
  let written = 0;
  for await (const _ of embedStream(items(recs, pulled), options(p), emptyStats())) {
    written++;
    worst = Math.max(worst, pulled.n - written);
  }
  // (concurrency + 1) batches in flight plus the open batch, each at most maxSpan records.
  assert.ok(worst <= 4 * 16, `read ${worst} records ahead of the output`);
});

test('empty texts pass through without a vector; bad records (no text field, a non-string) are rejected in order', async () => {
  const p = counting();
  const rejected: string[] = [];
  const stats = emptyStats();
  const recs = [{ id: 1, text: 'a' }, { id: 2, text: '  ' }, [1, 2], { id: 4 }, { id: 5, text: 'b' }, { id: 6, text: 42 }, { id: 7, text: { a: 1 } }, { id: 8, text: null }];
  const out = await collect(embedStream(items(recs), options(p, { reject: (i, r) => void rejected.push(`${i.where} ${r}`) }), stats));
  assert.deepEqual(out.map((r) => [r.id, r.embedding === null ? null : 'v', r.embedding_model === null]), [
    [1, 'v', false], [2, null, true], [5, 'v', false], [8, null, true],
  ]);
  assert.deepEqual(rejected, [
    "stdin:3 not a record (a JSON object), got an array; one record per line wanted: jq -c '.[]' splits an array",
    'stdin:4 4: no field "text" (see --text-field)',
    'stdin:6 6: field "text" is a number (42), not text',
    'stdin:7 7: field "text" is an object, not text',
  ]);
  assert.equal(stats.empty, 2);
  assert.equal(stats.rejected, 4);
  assert.deepEqual(p.batches.flat(), ['a', 'b'], 'nothing but text is embedded');
});

test('with a cache, repeated texts are sent once and a second pass sends nothing', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ct-embed-unit-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const recs = Array.from({ length: 30 }, (_, i) => ({ id: i, text: `t${i % 10}` }));
  const p1 = counting();
  const c1 = new EmbeddingCache(root, { provider: 'fake', model: 'count', dims: 3 });
  const s1 = emptyStats();
  const out1 = await collect(embedStream(items(recs), options(p1, { cache: c1 }), s1));
  await c1.close();
  assert.equal(p1.batches.flat().length, 10);
  assert.equal(s1.duplicates + s1.cached, 20);
  const dry = emptyStats();
  const c0 = new EmbeddingCache(mkdtempSync(join(root, 'empty-')), { provider: 'fake', model: 'count', dims: 3 });
  await collect(embedStream(items(recs), options(p1, { cache: c0, sender: undefined }), dry));
  assert.deepEqual([dry.texts, dry.batches, dry.tokens], [s1.texts, s1.batches, s1.tokens], 'dry run counts what the run sent');
  const p2 = counting();
  const c2 = new EmbeddingCache(root, { provider: 'fake', model: 'count', dims: 3 });
  const s2 = emptyStats();
  const out2 = await collect(embedStream(items(recs), options(p2, { cache: c2 }), s2));
  await c2.close();
  assert.equal(p2.batches.length, 0);
  assert.equal(s2.cached, 30);
  assert.deepEqual(out2, out1);
});

test('--no-truncate rejects texts over the token limit; truncation counts them', async () => {
  const long = 'word '.repeat(9000);
  const recs = [{ id: 'a', text: long }, { id: 'b', text: 'short' }];
  const rejected: string[] = [];
  await collect(embedStream(items(recs), options(counting(), { truncate: false, reject: (_, r) => void rejected.push(r) }), emptyStats()));
  assert.deepEqual(rejected, ['a: text has more than 8191 tokens (--no-truncate)']);
  const p = counting();
  const stats = emptyStats();
  await collect(embedStream(items(recs), options(p), stats));
  assert.equal(stats.truncated, 1);
  assert.ok(p.batches[0]![0]!.length < long.length);
});

test('NDJSON records waiting for their vector are held as bytes and come back whole: written, rejected, in order', async () => {
  const recs = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, text: i === 17 ? 'bad ü' : `text ${i % 13} ü`, raw: { n: i, s: 'ü'.repeat(i) } }));
  // NDJSON items carry their line; a provider that rejects one input (400: the batch is split down to it).
  async function* lineItems(): AsyncGenerator<InputItem> {
    for (let i = 0; i < recs.length; i++) {
      const json = JSON.stringify(recs[i]);
      yield { where: `stdin:${i + 1}`, line: i + 1, value: JSON.parse(json), json };
    }
  }
  const held: Array<{ json?: string; value?: unknown }> = [];
  const provider: Provider = {
    name: 'fake', model: 'm', dims: 2, remote: true,
    async embed(texts) {
      await new Promise((r) => setTimeout(r, 2));
      if (texts.includes('bad ü')) throw new ProviderError('400 invalid input', 'reject', 400);
      return texts.map((t) => Float32Array.from([t.length, 1]));
    },
  };
  const rejects: Array<{ where: string; value: unknown; json?: string; reason: string }> = [];
  const dir = mkdtempSync(join(tmpdir(), 'embed-park-'));
  const cache = new EmbeddingCache(dir, { provider: 'fake', model: 'm', dims: 2 });
  try {
    const o = options(provider, {
      cache,
      reject: (item, reason) => void rejects.push({ where: item.where, value: item.value, json: item.json, reason }),
    });
    const out = [];
    const gen = embedItems(lineItems(), o, emptyStats());
    for await (const e of gen) {
      out.push(e);
      held.push({ json: e.item.json, value: e.item.value });
    }
    assert.deepEqual(
      out.map((e) => e.rec),
      recs.filter((_, i) => i !== 17),
    );
    assert.deepEqual(held.map((h) => h.json), recs.filter((_, i) => i !== 17).map((r) => JSON.stringify(r)));
    assert.ok(out.every((e) => e.vector instanceof Float32Array && e.vector[0] === (e.rec.text as string).length));
    assert.deepEqual(rejects, [{ where: 'stdin:18', value: recs[17], json: JSON.stringify(recs[17]), reason: 'r17: 400 invalid input' }]);
  } finally {
    await cache.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fake remote model whose first request waits until `open()` is called. */
function gated() {
  let open = () => undefined as void;
  const gate = new Promise<void>((r) => (open = r));
  const p = {
    name: 'fake', model: 'gate', dims: 3, remote: true, calls: 0, open: () => open(),
    async embed(texts: string[]) {
      if (p.calls++ === 0) await gate;
      return texts.map((t) => Float32Array.from([t.length, 0, 1]));
    },
  };
  return p;
}

/** NDJSON items with their lines (about 1 KB each), as the input reader gives them. */
async function* lines(recs: Rec[], pulled: { n: number }): AsyncGenerator<InputItem> {
  for (let i = 0; i < recs.length; i++) {
    pulled.n++;
    const json = JSON.stringify(recs[i]);
    yield { where: `stdin:${i + 1}`, line: i + 1, value: JSON.parse(json), json };
  }
}

async function readAheadWhileHeld(p: ReturnType<typeof gated>, recs: Rec[], extra: Partial<EmbedOptions>) {
  const pulled = { n: 0 };
  const out: Rec[] = [];
  const run = (async () => {
    for await (const r of embedStream(lines(recs, pulled), options(p, { maxParkedBytes: 10_000, ...extra }), emptyStats())) out.push(r);
  })();
  await new Promise((r) => setTimeout(r, 50));
  const ahead = pulled.n;
  p.open();
  await run;
  assert.deepEqual(out.map((r) => r.id), recs.map((r) => r.id));
  return ahead;
}

test('reading pauses at maxParkedBytes while a batch is out, though repeats of its texts send nothing new', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ct-embed-unit-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const cache = new EmbeddingCache(root, { provider: 'fake', model: 'gate', dims: 3 });
  const pad = 'p'.repeat(1000);
  const recs = Array.from({ length: 500 }, (_, i) => ({ id: i, text: i % 2 ? 'a' : 'b', pad }));
  // Batch 1 ('a', 'b') closes at record 16 (maxSpan); every record after it repeats a text in it.
  const ahead = await readAheadWhileHeld(gated(), recs, { cache });
  assert.ok(ahead <= 20, `read ${ahead} of 500 records while the first batch was held`);
});

test('cache hits behind a record that waits are parked and count toward maxParkedBytes', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ct-embed-unit-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const cache = new EmbeddingCache(root, { provider: 'fake', model: 'gate', dims: 3 });
  await cache.put([[textKey('hit'), Float32Array.from([3, 0, 1])]]);
  const pad = 'p'.repeat(1000);
  const recs = [{ id: 0, text: 'miss', pad }, ...Array.from({ length: 500 }, (_, i) => ({ id: i + 1, text: 'hit', pad }))];
  const ahead = await readAheadWhileHeld(gated(), recs, { cache });
  assert.ok(ahead <= 20, `read ${ahead} of 501 records while the first batch was held`);
});

test('distinct texts are not held back by maxParkedBytes, only by a bound twice as large (a slow first batch)', async () => {
  const pad = 'p'.repeat(1000);
  const recs = Array.from({ length: 500 }, (_, i) => ({ id: i, text: `text ${i}`, pad }));
  // The first batch is held; the later ones come back at once but wait behind it, parked.
  const ahead = await readAheadWhileHeld(gated(), recs, { maxInFlight: 100 });
  assert.ok(ahead > 12 && ahead <= 30, `read ${ahead} of 500 records while the first batch was held`);
});
