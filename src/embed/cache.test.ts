import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir, EmbeddingCache, namespaceDir, textKey } from './cache.js';

const ns = { provider: 'openai', model: 'text-embedding-3-small', dims: 4 };
const vec = (x: number) => Float32Array.from([x, x + 0.5, -x, 0.25]);
const tmp = () => mkdtempSync(join(tmpdir(), 'ct-embed-cache-'));
const segments = (c: EmbeddingCache) => readdirSync(c.dir).filter((n) => n.endsWith('.bin')).map((n) => join(c.dir, n));

test('put then get, in this process and after reopening', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = new EmbeddingCache(root, ns);
  assert.equal(a.get(textKey('x')), undefined);
  await a.put([[textKey('x'), vec(1)], [textKey('y'), vec(2)]]);
  assert.deepEqual(a.get(textKey('y')), vec(2));
  await a.close();
  const b = new EmbeddingCache(root, ns);
  assert.equal(b.size, 2);
  assert.ok(b.has(textKey('x')));
  assert.deepEqual(b.get(textKey('x')), vec(1));
  assert.equal(b.tornSegments, 0);
  await b.close();
  // Another namespace (other dims) does not see them.
  const other = new EmbeddingCache(root, { ...ns, dims: 8 });
  assert.equal(other.size, 0);
  await other.close();
});

test('a torn tail is ignored, the entries before it survive', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = new EmbeddingCache(root, ns);
  await a.put([[textKey('x'), vec(1)]]);
  await a.put([[textKey('y'), vec(2)]]);
  await a.close();
  const [seg] = segments(a);
  truncateSync(seg!, statSync(seg!).size - 5); // kill -9 in the middle of the second write
  const b = new EmbeddingCache(root, ns);
  assert.equal(b.size, 1);
  assert.equal(b.tornSegments, 1);
  assert.deepEqual(b.get(textKey('x')), vec(1));
  assert.equal(b.get(textKey('y')), undefined);
  await b.close();
  // Zeros where an entry should be (a crash after the file grew but before the data landed).
  appendFileSync(seg!, Buffer.alloc(200));
  const c = new EmbeddingCache(root, ns);
  assert.equal(c.size, 1);
  await c.close();
});

test('a damaged payload is a miss, never a wrong vector', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = new EmbeddingCache(root, ns);
  await a.put([[textKey('x'), vec(1)], [textKey('y'), vec(2)]]);
  await a.close();
  const b = new EmbeddingCache(root, ns); // indexes both
  const [seg] = segments(a);
  const bytes = readFileSync(seg!);
  bytes[60 + 44 + 3] ^= 0xff; // first payload float of the second entry (stride 44 + 4·4)
  writeFileSync(seg!, bytes);
  assert.equal(b.get(textKey('y')), undefined, 'damage after opening: caught on read');
  assert.deepEqual(b.get(textKey('x')), vec(1));
  await b.close();
  // Damage before opening: opening reads no vectors (the sidecar lists the keys), the lookup catches it.
  const c = new EmbeddingCache(root, ns);
  assert.equal(c.has(textKey('y')), false);
  assert.equal(c.get(textKey('y')), undefined);
  assert.deepEqual(c.get(textKey('x')), vec(1));
  await c.close();
  // Without the sidecar, the scan on open catches it.
  for (const n of readdirSync(a.dir).filter((n) => n.endsWith('.idx'))) rmSync(join(a.dir, n));
  const d = new EmbeddingCache(root, ns);
  assert.equal(d.size, 1, 'damage before opening, no sidecar: caught by the scan');
  assert.equal(d.has(textKey('y')), false);
  await d.close();
});

test('reopening reads the keys from the sidecar index, and the vectors are the same', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = new EmbeddingCache(root, ns);
  const keys = Array.from({ length: 50 }, (_, i) => textKey(`t${i}`));
  await a.put(keys.slice(0, 30).map((k, i) => [k, vec(i)]));
  await a.put(keys.slice(30).map((k, i) => [k, vec(30 + i)]));
  await a.close();
  const [seg] = segments(a);
  const idx = seg!.replace(/\.bin$/, '.idx');
  assert.equal(statSync(idx).size, 16 + 50 * 32, 'close lists every key of its segment');
  // Proof that the keys come from the sidecar: entries the sidecar lists are indexed even with their bytes gone
  // bad (a lookup then misses), while a full scan would have stopped at the first bad one.
  const bytes = readFileSync(seg!);
  bytes[0] ^= 0xff; // the first entry's magic
  writeFileSync(seg!, bytes);
  const b = new EmbeddingCache(root, ns);
  assert.equal(b.size, 50);
  assert.equal(b.get(keys[0]!), undefined);
  for (let i = 1; i < 50; i++) assert.deepEqual(b.get(keys[i]!), vec(i));
  await b.close();
  bytes[0] ^= 0xff;
  writeFileSync(seg!, bytes);

  // A damaged sidecar is ignored: the segment is scanned, and a good sidecar written again.
  const good = readFileSync(idx);
  const bad = Buffer.from(good);
  bad[16 + 5] ^= 0xff;
  writeFileSync(idx, bad);
  const c = new EmbeddingCache(root, ns);
  assert.equal(c.size, 50);
  for (let i = 0; i < 50; i++) assert.deepEqual(c.get(keys[i]!), vec(i));
  await c.close();
  assert.deepEqual(readFileSync(idx), good, 'the scan wrote the sidecar again');

  // A sidecar that lists more entries than the segment holds (the segment was cut short) is ignored too.
  truncateSync(seg!, statSync(seg!).size - 20 * (44 + 16));
  const d = new EmbeddingCache(root, ns);
  assert.equal(d.size, 30);
  assert.equal(d.get(keys[30]!), undefined);
  assert.deepEqual(d.get(keys[29]!), vec(29));
  await d.close();
});

test('entries appended after the sidecar (a segment still being written) are scanned and found', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const w = new EmbeddingCache(root, ns);
  await w.put([[textKey('a'), vec(1)]]);
  const r1 = new EmbeddingCache(root, ns); // scans the live segment, writes a sidecar for its one entry
  assert.equal(r1.size, 1);
  await r1.close();
  await w.put([[textKey('b'), vec(2)]]); // the writer goes on after that sidecar
  const r2 = new EmbeddingCache(root, ns);
  assert.equal(r2.size, 2);
  assert.deepEqual(r2.get(textKey('b')), vec(2));
  await r2.close();
  await w.close();
});

test('concurrent writers use separate segments; a later reader sees both', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = new EmbeddingCache(root, ns);
  const b = new EmbeddingCache(root, ns);
  await Promise.all([a.put([[textKey('a'), vec(1)]]), b.put([[textKey('b'), vec(2)]])]);
  await Promise.all([a.close(), b.close()]);
  const c = new EmbeddingCache(root, ns);
  assert.equal(segments(c).length, 2);
  assert.deepEqual(c.get(textKey('a')), vec(1));
  assert.deepEqual(c.get(textKey('b')), vec(2));
  await c.close();
});

test('default directory and namespace names', () => {
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/ct-pipeline/embeddings');
  assert.match(defaultCacheDir({ HOME: '/h' }), /\.cache\/ct-pipeline\/embeddings$/);
  assert.match(namespaceDir({ provider: 'openai', model: 'nomic-embed-text:latest', dims: 768 }), /^openai--nomic-embed-text_latest--768-[0-9a-f]{8}$/);
});

test('the namespace of OpenAI itself is what it always was; other servers get their own', () => {
  // The directory name of earlier versions (provider, model, dims): existing caches stay valid.
  assert.equal(namespaceDir({ provider: 'openai', model: 'text-embedding-3-small', dims: 1536 }), 'openai--text-embedding-3-small--1536-5c8b9986');
  const a = namespaceDir({ provider: 'openai', model: 'm', dims: 8, scope: 'http://localhost:8080/v1' });
  const b = namespaceDir({ provider: 'openai', model: 'm', dims: 8, scope: 'http://localhost:8081/v1' });
  assert.match(a, /^openai@localhost_8080_v1--m--8-[0-9a-f]{8}$/);
  assert.notEqual(a, b);
  assert.notEqual(a, namespaceDir({ provider: 'openai', model: 'm', dims: 8 }));
});
