/** ct-prepare end to end: Arrow input and output round trips, atomic --tee under SIGKILL. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { ArrowEncoder } from '../src/io/arrow.js';
import { openInput } from '../src/io/input.js';
import { RecordWriter } from '../src/io/output.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'ct-prepare');
const sample = join(root, 'test', 'fixtures', 'prepare-mixed.ndjson');
const env = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };

function prepare(args: string[], input?: Buffer) {
  const r = spawnSync(bin, args, { input, env, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'ct-prepare-test-'));
}

test('raw studies as NDJSON and as Arrow (stream and file input) give the same output', () => {
  const dir = tmp();
  try {
    const raw = readFileSync(sample, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const enc = new ArrowEncoder(7);
    const parts = raw.map((r) => enc.push(r)).filter((b): b is Buffer => !!b);
    parts.push(enc.end());
    const arrowFile = join(dir, 'raw.arrow');
    writeFileSync(arrowFile, Buffer.concat(parts));
    const fromNd = prepare([sample, '-q']);
    const fromArrowStdin = prepare(['-q'], readFileSync(arrowFile));
    const fromArrowPath = prepare([arrowFile, '-q']);
    assert.ok(fromNd.length > 1000);
    assert.equal(fromArrowStdin.toString(), fromNd.toString());
    assert.equal(fromArrowPath.toString(), fromNd.toString());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ct-prepare's output NDJSON → Arrow → NDJSON comes back byte-identical", async () => {
  const dir = tmp();
  try {
    const nd = prepare([sample, '-q']);
    const arrow = prepare([sample, '-q', '--format', 'arrow']);
    assert.equal(arrow.readUInt32LE(0), 0xffffffff);
    // Arrow → NDJSON through the same layer the tools use
    const out = join(dir, 'back.ndjson');
    const w = new RecordWriter({ tool: 't', version: '0', format: 'ndjson', out, options: {} });
    for await (const item of await openInput('-', Readable.from([arrow]))) await w.write(item.value as never);
    await w.close();
    assert.equal(readFileSync(out, 'utf8'), nd.toString());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const dedupe of ['first', 'latest']) {
  test(`--tee killed with SIGKILL mid-stream leaves no FILE, only FILE.partial (dedupe ${dedupe})`, async () => {
    const dir = tmp();
    try {
      const tee = join(dir, 'prepare.ndjson');
      const lines = readFileSync(sample, 'utf8').split('\n');
      const child = spawn(bin, ['--tee', tee, '--dedupe', dedupe, '-q'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
      child.stdin.write(lines.slice(0, 10).join('\n') + '\n');
      // wait (bounded) until the partial holds data (streaming) or exists (spooling)
      const partial = `${tee}.partial`;
      for (let i = 0; i < 200; i++) {
        const started = existsSync(partial) && existsSync(`${partial}.meta.json`);
        if (started && (dedupe === 'latest' || statSync(partial).size > 0)) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      assert.equal(existsSync(tee), false, 'a killed run must not leave a complete-looking file');
      assert.equal(existsSync(partial), true);
      assert.equal(existsSync(`${tee}.meta.json`), false);
      const meta = JSON.parse(readFileSync(`${tee}.partial.meta.json`, 'utf8'));
      assert.equal(meta.status, 'partial');
      if (dedupe === 'first') assert.ok(statSync(partial).size > 0);
      // a complete run then replaces the partial
      prepare(['--tee', tee, '-q', sample]);
      assert.equal(existsSync(partial), false);
      const done = JSON.parse(readFileSync(`${tee}.meta.json`, 'utf8'));
      assert.equal(done.status, 'complete');
      assert.equal(done.tool, 'ct-prepare');
      assert.equal(done.records, 25);
      assert.equal(done.bytes, statSync(tee).size);
      assert.equal(done.format, 'ndjson');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
