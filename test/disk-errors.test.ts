/**
 * Write errors name the file, and the temporary file of a small write never stays behind. A full disk is
 * a 64 KiB tmpfs when this machine lets us mount one (root); the rename failure needs no privilege.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic-file.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sample = join(root, 'test', 'fixtures', 'studies-sample.ndjson');

test('writeFileAtomic: a failed rename names the file and removes the temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-disk-'));
  try {
    const target = join(dir, 'state.json');
    mkdirSync(target); // a non-empty directory in the way: the rename fails
    writeFileSync(join(target, 'x'), '');
    assert.throws(() => writeFileAtomic(target, '{}\n'), (e: Error) => e.name === 'RuntimeError' && e.message.startsWith(`${target}: `));
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full disk: the error names the file, no temporary file is left', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-disk-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (mount.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    t.skip('cannot mount a small tmpfs here (needs root)');
    return;
  }
  try {
    const out = join(dir, 'out.ndjson');
    const prepare = (...args: string[]) => spawnSync(join(root, 'bin', 'ct-prepare'), [sample, '-o', out, '-q', ...args], { env: { ...process.env, TZ: 'UTC' } });
    // --dedupe latest from a pipe spools beside the output first: that is what fills the disk (the unlinked spool is freed at exit)
    const spooled = spawnSync(join(root, 'bin', 'ct-prepare'), ['-o', out, '-q'], { env: { ...process.env, TZ: 'UTC' }, input: readFileSync(sample) });
    assert.equal(spooled.status, 1);
    assert.match(spooled.stderr.toString(), new RegExp(`^ct-prepare: --dedupe latest: cannot write its spool \\(a copy of the input\\) in ${dir}: ENOSPC: no space left on device; `));
    const r = prepare('--dedupe', 'first');
    assert.equal(r.status, 1);
    assert.equal(r.stderr.toString(), `ct-prepare: ${out}.partial: ENOSPC: no space left on device\n`);
    // The disk is full now: a small atomic write fails naming its file and leaves no temporary file.
    assert.throws(() => writeFileAtomic(join(dir, 'small.json'), 'x'.repeat(100_000)), new RegExp(`^RuntimeError: ${join(dir, 'small.json')}: ENOSPC: no space left on device$`));
    assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp-')), readdirSync(dir).join(' '));
  } finally {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
