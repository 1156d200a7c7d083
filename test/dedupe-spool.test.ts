/**
 * `ct-prepare --dedupe latest` from a pipe spools beside its output (or in TMPDIR) and says clearly when it
 * cannot; from a regular file it reads the file twice and spools nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'ct-prepare');
const sample = join(root, 'test', 'fixtures', 'studies-sample.ndjson');
const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };

/** The files a running process holds open (Linux /proc). */
function openFiles(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).map((fd) => {
    try {
      return readlinkSync(join(dir, fd));
    } catch {
      return '';
    }
  });
}

test('the spool is beside -o FILE, unlinked, and nothing is left after the run', async (t) => {
  if (!existsSync('/proc/self/fd')) return t.skip('needs /proc');
  const out = mkdtempSync(join(tmpdir(), 'ct-spool-out-'));
  const tmp = mkdtempSync(join(tmpdir(), 'ct-spool-tmp-'));
  try {
    const child = spawn(bin, ['-o', join(out, 'prepared.ndjson'), '-q'], { env: { ...env, TMPDIR: tmp }, stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin.write(readFileSync(sample, 'utf8').split('\n').slice(0, 3).join('\n') + '\n');
    let spool: string | undefined;
    for (let i = 0; i < 200 && !spool; i++) {
      await new Promise((r) => setTimeout(r, 50));
      spool = openFiles(child.pid!).find((f) => f.includes('spool.ndjson'));
    }
    child.stdin.end();
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0);
    assert.ok(spool, 'the spool file was seen open');
    assert.ok(spool.startsWith(join(out, '.ct-prepare-spool-')) && spool.endsWith('(deleted)'), spool);
    assert.deepEqual(readdirSync(out).sort(), ['prepared.ndjson', 'prepared.ndjson.meta.json']);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a spool that cannot be written is a clear error naming where and what to do', () => {
  const missing = join(tmpdir(), `ct-spool-missing-${process.pid}`);
  const r = spawnSync(bin, ['-q'], { env: { ...env, TMPDIR: missing }, input: readFileSync(sample) });
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr.toString(),
    `ct-prepare: --dedupe latest: cannot write its spool (a copy of the input) in ${missing}: ENOENT: no such file or directory; free space there, set TMPDIR (without -o/--tee), or use --dedupe first\n`,
  );
  const first = spawnSync(bin, ['-q', '--dedupe', 'first'], { env: { ...env, TMPDIR: missing }, input: readFileSync(sample) });
  assert.equal(first.status, 0, first.stderr.toString());
});

test('from a regular file, --dedupe latest needs no spool and gives what the spool gives', () => {
  const missing = join(tmpdir(), `ct-spool-missing-${process.pid}`);
  const fromFile = spawnSync(bin, [sample, '-q'], { env: { ...env, TMPDIR: missing } });
  assert.equal(fromFile.status, 0, fromFile.stderr.toString());
  const fromPipe = spawnSync(bin, ['-q'], { env, input: readFileSync(sample) });
  assert.equal(fromPipe.status, 0, fromPipe.stderr.toString());
  assert.ok(fromFile.stdout.length > 0);
  assert.equal(fromFile.stdout.toString(), fromPipe.stdout.toString());
});
