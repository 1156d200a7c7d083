import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { RecordWriter } from './output.js';

/** Everything a writer sends to its stdout. */
function collecting() {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

test('NDJSON: records, serialized lines and UTF-8 bytes give the same output; bytes are copied at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-output-'));
  try {
    const tee = join(dir, 'tee.ndjson');
    const s = collecting();
    const w = new RecordWriter({ tool: 't', version: '0', format: 'ndjson', tee, options: {}, stdout: s.out });
    const recs = [{ a: 'é 中 😀', b: 'lone \ud800' }, { big: 'x'.repeat(200_000) }, { c: [1, 2] }];
    const want = recs.map((r) => JSON.stringify(r) + '\n').join('');
    await w.write(recs[0]!);
    const buf = Buffer.alloc(300_000);
    const n = buf.write(JSON.stringify(recs[1]));
    await w.write({}, buf.subarray(0, n));
    buf.fill(0x21); // the caller reuses its buffer at once
    await w.write({}, JSON.stringify(recs[2]));
    await w.close();
    assert.equal(s.text(), want);
    assert.equal(readFileSync(tee, 'utf8'), want);
    assert.equal(w.count, 3);
    assert.equal(w.bytes, Buffer.byteLength(want));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NDJSON: many small records are written in order across flushes', async () => {
  const s = collecting();
  const w = new RecordWriter({ tool: 't', version: '0', format: 'ndjson', options: {}, stdout: s.out });
  let want = '';
  for (let i = 0; i < 20_000; i++) {
    const r = { i, s: 'é'.repeat(i % 7) };
    want += JSON.stringify(r) + '\n';
    await (i % 2 ? w.write(r) : w.write(r, Buffer.from(JSON.stringify(r))));
  }
  await w.close();
  assert.equal(s.text(), want);
});
