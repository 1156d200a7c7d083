/**
 * Output targets that are not regular files (a FIFO, a symlink to one; the same path as /dev/null,
 * /dev/stdout or `>(…)`) are written directly: no `.partial`, no rename over them, no `.meta.json`.
 * The tests use FIFOs in a temporary folder, never the machine's real devices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic-file.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const prepareBin = join(root, 'bin', 'ct-prepare');
const sample = join(root, 'test', 'fixtures', 'prepare-mixed.ndjson');
const env = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, r.stderr.toString());
}

/** Read a FIFO with `cat` in another process; resolves with what came through (or '' after the timeout). */
function readFifo(path: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve) => {
    const cat = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    cat.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => cat.kill('SIGKILL'), timeoutMs);
    cat.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

function run(bin: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('ct-prepare -o FIFO and --tee symlink-to-FIFO write through them and leave them FIFOs, with no .partial or .meta.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-special-'));
  try {
    const out = join(dir, 'out.fifo');
    const teeFifo = join(dir, 'tee.fifo');
    const teeLink = join(dir, 'tee-link');
    mkfifo(out);
    mkfifo(teeFifo);
    symlinkSync(teeFifo, teeLink);
    const expected = spawnSync(prepareBin, [sample, '-q'], { env }).stdout.toString();
    assert.ok(expected.length > 1000);
    const [a, b, r] = await Promise.all([readFifo(out), readFifo(teeFifo), run(prepareBin, [sample, '-q', '-o', out, '--tee', teeLink])]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(a, expected);
    assert.equal(b, expected);
    assert.ok(statSync(out).isFIFO(), 'the -o FIFO is still a FIFO');
    assert.ok(statSync(teeFifo).isFIFO(), 'the --tee FIFO is still a FIFO');
    assert.ok(lstatSync(teeLink).isSymbolicLink(), 'the symlink is still a symlink');
    assert.deepEqual(readdirSync(dir).sort(), ['out.fifo', 'tee-link', 'tee.fifo']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--rejects into a FIFO is written directly too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-special-'));
  try {
    const rej = join(dir, 'rejects.fifo');
    mkfifo(rej);
    const [text, r] = await Promise.all([readFifo(rej), run(prepareBin, [sample, '-q', '-o', join(dir, 'out.ndjson'), '--rejects', rej])]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync(rej).isFIFO());
    for (const line of text.trim().split('\n').filter(Boolean)) assert.ok(JSON.parse(line).reason);
    assert.deepEqual(readdirSync(dir).sort(), ['out.ndjson', 'out.ndjson.meta.json', 'rejects.fifo']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic onto a FIFO writes through it (no temp file, no rename)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-special-'));
  try {
    const fifo = join(dir, 'small.fifo');
    mkfifo(fifo);
    const reading = readFifo(fifo);
    // Open for writing blocks until the reader has opened: give `cat` its own process.
    await new Promise((r) => setTimeout(r, 200));
    writeFileAtomic(fifo, 'hello\n');
    assert.equal(await reading, 'hello\n');
    assert.ok(statSync(fifo).isFIFO());
    assert.deepEqual(readdirSync(dir), ['small.fifo']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
