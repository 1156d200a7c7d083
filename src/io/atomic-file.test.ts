import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile, metaName, partialName, writeFileAtomic } from './atomic-file.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'ct-atomic-'));
}

/** The pid of a process that has run and exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.equal(r.status, 0);
  return r.pid;
}

test('writeFileAtomic removes the temporary files of a run killed before its rename, and keeps a running one’s', async () => {
  const dir = scratch();
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  try {
    const path = join(dir, 'out.ndjson.partial.meta.json');
    const dead = `${path}.tmp-${deadPid()}`;
    const running = `${path}.tmp-${live.pid}`;
    const otherName = `other.json.tmp-${deadPid()}`;
    const other = join(dir, otherName);
    for (const f of [dead, running, other]) writeFileSync(f, '{"half":');
    mkdirSync(`${path}.tmp-${deadPid()}`);
    writeFileAtomic(path, '{"ok":true}\n');
    assert.equal(readFileSync(path, 'utf8'), '{"ok":true}\n');
    assert.deepEqual(readdirSync(dir).sort(), [otherName, 'out.ndjson.partial.meta.json', `out.ndjson.partial.meta.json.tmp-${live.pid}`].sort());
    assert.ok(existsSync(running), 'a running process’s temporary file is its own');
  } finally {
    live.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AtomicFile.commit leaves no temporary file of the partial meta that a killed run left', () => {
  const dir = scratch();
  try {
    const path = join(dir, 'fetch.ndjson');
    const stale = `${metaName(partialName(path))}.tmp-${deadPid()}`;
    writeFileSync(stale, '{');
    const f = new AtomicFile(path);
    f.write(Buffer.from('{"a":1}\n'));
    f.commit({ records: 1 });
    assert.deepEqual(readdirSync(dir).sort(), ['fetch.ndjson', 'fetch.ndjson.meta.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
