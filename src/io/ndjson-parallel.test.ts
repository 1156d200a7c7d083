import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { readNdjson, type InputItem, type NdjsonControl } from './input.js';
import { parseWorkerCount, type WorkerParse } from './ndjson-parallel.js';
import { objectsAsText, RawJson } from './rawjson.js';

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const vec = (seed: number, n = 16) => Array.from({ length: n }, (_, i) => Math.sin(seed * 31 + i) / 3);

/** Lines of every kind a reader meets; `many` records between them so the input spans several chunks. */
function input(many: number): Buffer {
  const parts: Array<string | Buffer> = [];
  const line = (x: unknown) => parts.push(JSON.stringify(x) + '\n');
  parts.push('\ufeff' + JSON.stringify({ id: 'bom', raw: { a: 1 }, embedding: vec(0) }) + '\r\n');
  parts.push('\n   \n');
  parts.push('{oops\n', '{\n', '[1,2]\n', '42\n', 'null\n');
  line({ id: 'uni', title: 'naïve 试验 😀', raw: { t: 'ünïcödé 试验', n: [1, { x: 'é' }] }, embedding: vec(1), extra: { big: 'x'.repeat(100) } });
  parts.push(Buffer.concat([Buffer.from('{"id":"bad-utf8","raw":{"t":"'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('"},"embedding":[0.5,0.25]}\n')]));
  // a cut multi-byte sequence before raw: one U+FFFD for two bytes, so the decoded text's offsets are not the bytes'
  parts.push(Buffer.concat([Buffer.from('{"id":"cut","t":"'), Buffer.from([0xe4, 0xb8]), Buffer.from('X","raw":{"a":"b"},"embedding":[0.5]}\n')]));
  parts.push('{"id":"huge","embedding":[0.5,1e39,0.25]}\n');
  parts.push('{"id":"mixed","embedding":[0.5,"x",0.25]}\n');
  parts.push('{"id":"repeat","raw":{"a":1},"raw":{"b":2},"embedding":[]}\n');
  parts.push('{"id":"esc","r\\u0061w":{"k":"\\"}{["},"embedding":[1,2]}\n');
  parts.push('{"id":"proto","__proto__":{"polluted":true},"raw":{"ok":1}}\n');
  parts.push(`{"id":"deep","raw":${deep(20_000)}}\n`);
  line({ id: 'long', raw: { pad: 'y'.repeat(700_000) }, embedding: vec(2) });
  for (let i = 0; i < many; i++) line({ id: `r${i}`, n: i, title: `study ${i} ≥ ${i % 7}`, raw: { i, tags: ['a', 'b'], nested: { s: 'q"uote\\' } }, embedding: vec(i + 3) });
  parts.push('{"id":"last","raw":{"z":true},"embedding":[0.125]}'); // no final newline
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

/** An item as a comparable value: shaped values as plain JSON (RawJson parsed, float32 arrays as numbers). */
function plainItem(it: InputItem, keep?: Set<string>): unknown {
  if (it.error !== undefined) return { where: it.where, line: it.line, error: it.error, text: it.text };
  let v = it.value;
  if (!it.shaped && v !== null && typeof v === 'object' && !Array.isArray(v) && it.json !== undefined) {
    v = objectsAsText(v as Record<string, unknown>, it.json);
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (keep && !keep.has(k)) continue;
      if (k === '__proto__') continue;
      out[k] = x instanceof RawJson ? { raw: x.value } : x instanceof Float32Array ? { f32: Array.from(x) } : x;
    }
    v = out;
  }
  return { where: it.where, line: it.line, value: v, json: it.json };
}

/** The items of `src`, parsed by workers as `spec` says from item `switchAfter` on (0: from the start). */
async function collect(src: AsyncIterable<Buffer>, control: NdjsonControl, switchAfter: number, spec?: WorkerParse) {
  const out: InputItem[] = [];
  if (spec && switchAfter === 0) control.workers = spec;
  for await (const it of readNdjson(src, 'in.ndjson', control)) {
    out.push(it);
    if (spec && out.length === switchAfter) control.workers = spec;
  }
  return out;
}

test('parsing workers give the items readNdjson gives: same lines, positions, errors, values and texts, in order', async () => {
  const bytes = input(3000);
  const keep = ['id', 'n', 'title', 'raw', 'embedding'];
  const reference = await collect(pieces(bytes, 1 << 20), {}, 0);
  assert.ok(reference.length > 3000);
  // What the workers should give: objects as RawJson, only the kept fields, vectors as float32 when float32 holds them.
  const expected = reference.map((it) => {
    const p = plainItem(it, new Set(keep)) as { value?: Record<string, unknown> };
    const v = p.value;
    if (v && typeof v === 'object' && Array.isArray(v.embedding) && v.embedding.length > 0) {
      const f = Float32Array.from(v.embedding as number[]);
      if (v.embedding.every((x) => typeof x === 'number') && f.every(Number.isFinite)) v.embedding = { f32: Array.from(f) };
    }
    return p;
  });
  for (const [workers, size, after] of [
    [1, 1 << 20, 0],
    [2, 1 << 20, 3],
    [2, 4093, 1],
    [3, 65536, 12],
  ] as const) {
    const got = await collect(pieces(bytes, size), {}, after, { workers, keep, float32: ['embedding'] });
    assert.equal(got.length, reference.length, `workers ${workers}, pieces of ${size}`);
    const shaped = got.filter((g) => g.shaped).length;
    assert.ok(shaped > 3000, `most items came from the workers (${shaped})`);
    for (let i = 0; i < got.length; i++) {
      const want = i < after ? plainItem(reference[i]!, undefined) : expected[i];
      assert.deepEqual(plainItem(got[i]!, i < after ? undefined : new Set(keep)), want, `item ${i} (${reference[i]!.where}), workers ${workers}, pieces of ${size}`);
    }
  }
});

test('parsing workers: the first line\'s BOM is dropped when the workers start at the beginning; a record\'s raw keeps its exact text', async () => {
  const bytes = Buffer.from('\ufeff{"id":1,"raw":{"a" : [1, 2]}}\r\n{"id":2,"raw":{"é":"ü"}}\n');
  const got = await collect(pieces(bytes, 5), { workers: { workers: 1 } }, 0);
  assert.deepEqual(got.map((g) => [g.where, g.shaped, g.json]), [
    ['in.ndjson:1', true, '{"id":1,"raw":{"a" : [1, 2]}}'],
    ['in.ndjson:2', true, '{"id":2,"raw":{"é":"ü"}}'],
  ]);
  const raws = got.map((g) => (g.value as { raw: RawJson }).raw);
  assert.deepEqual(raws.map((r) => r.json), ['{"a" : [1, 2]}', '{"é":"ü"}']);
  assert.ok(raws[1]!.utf8, 'valid UTF-8: the raw text as the line\'s bytes');
});

test('parsing workers: a read error of the input reaches the reader; stopping early stops the workers', async () => {
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.from('{"a":1}\n{"a":2}\n');
    throw new Error('disk on fire');
  }
  await assert.rejects(collect(failing(), { workers: { workers: 1 } }, 0), /disk on fire/);
  const lines = Buffer.from(Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, pad: 'p'.repeat(200) })).join('\n'));
  let n = 0;
  for await (const it of readNdjson(pieces(lines, 1 << 16), 'x', { workers: { workers: 2 } })) {
    assert.equal((it.value as { i: number }).i, n);
    if (++n === 10) break;
  }
  assert.equal(n, 10);
});

test('parseWorkerCount: CT_PARSE_WORKERS, else one worker when there is a second core', () => {
  assert.equal(parseWorkerCount({}, 2), 1);
  assert.equal(parseWorkerCount({}, 1), 0);
  assert.equal(parseWorkerCount({ CT_PARSE_WORKERS: '0' }, 8), 0);
  assert.equal(parseWorkerCount({ CT_PARSE_WORKERS: '3' }, 1), 3);
  assert.equal(parseWorkerCount({ CT_PARSE_WORKERS: 'lots' }, 2), 1);
  assert.equal(parseWorkerCount({}, 8, false), 0);
  assert.equal(parseWorkerCount({ CT_PARSE_WORKERS: '1' }, 2, false), 1, 'the setting wins');
});

test('parsing workers in a process with nothing else to wait for (PGlite holds no socket): every line is read, and the process ends when the work does', () => {
  const script = `
    import { readNdjson } from ${JSON.stringify(new URL('./input.js', import.meta.url).href)};
    async function* src() { for (let i = 0; i < 40; i++) yield Buffer.from(Array.from({ length: 500 }, (_, j) => JSON.stringify({ i, j, pad: 'x'.repeat(300) })).join('\\n') + '\\n'); }
    let n = 0;
    for await (const it of readNdjson(src(), 'x', { workers: { workers: 2 } })) if (it.shaped) n++;
    process.stdout.write(String(n));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '20000', 'every line read before the process ended');
  const script2 = script.replace("{ workers: 2 }", "{ workers: 1 }") + ';setTimeout(() => process.stdout.write(" timer"), 50)';
  const r2 = spawnSync(process.execPath, ['--input-type=module', '-e', script2], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r2.stdout, '20000 timer', 'an idle worker does not hold the process up: it ends when its work does');
});
