/**
 * Two runs writing the same output file at once: the second is refused (exit 1, naming the first) before it
 * touches FILE.partial, the first finishes with the right output, and a lock left by a SIGKILLed run is taken
 * over by the next one. Before the write lock both wrote the same FILE.partial and renamed a mix into place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const env = { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: process.env.HOME };
const studies = readFileSync(join(root, 'test/fixtures/studies-sample.ndjson'), 'utf8').trim().split('\n');
function prepare(args: string[]): ChildProcess {
  const c = spawn(process.execPath, [join(root, 'bin/ct-prepare'), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  c.stdin!.on('error', () => undefined); // a refused run exits before it reads its input
  return c;
}
const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  return cond();
};
const finished = (c: ChildProcess) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stderr }));
  });

test('a second run on the same output is refused while the first writes; a killed run\'s lock is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-writers-'));
  try {
    const out = join(dir, 'prepared.ndjson');
    const expected = spawnSync(process.execPath, [join(root, 'bin/ct-prepare'), '--dedupe', 'first', '-q'], { env, input: studies.join('\n') + '\n' }).stdout.toString();
    // The first run reads a pipe that stays open: it is writing the file until its input ends.
    const first = prepare(['--dedupe', 'first', '-q', '-o', out]);
    const firstDone = finished(first);
    first.stdin!.write(studies.slice(0, 20).join('\n') + '\n');
    assert.ok(await waitFor(() => existsSync(`${out}.lock`)), 'the first run holds the lock');
    const second = prepare(['--dedupe', 'first', '-q', '-o', out]);
    second.stdin!.end(studies.slice(20).join('\n') + '\n');
    const refused = await finished(second);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^ct-prepare: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by ct-prepare, pid ${first.pid} \\(since \\d\\d:\\d\\d:\\d\\d UTC\\); another run is writing this file`));
    first.stdin!.end(studies.slice(20).join('\n') + '\n');
    const ok = await firstDone;
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readFileSync(out, 'utf8'), expected, 'the first run\'s output, whole');
    assert.equal(existsSync(`${out}.lock`), false, 'released');

    // SIGKILL leaves the lock; the next run takes it over and writes the file.
    const killed = prepare(['--dedupe', 'first', '-q', '-o', out]);
    const killedDone = finished(killed);
    killed.stdin!.write(studies[0] + '\n');
    assert.ok(await waitFor(() => existsSync(`${out}.lock`)));
    killed.kill('SIGKILL');
    await killedDone;
    assert.ok(existsSync(`${out}.lock`), 'a SIGKILL leaves the lock');
    const next = prepare(['--dedupe', 'first', '-o', out]);
    next.stdin!.end(studies.join('\n') + '\n');
    const r = await finished(next);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the lock of ct-prepare, pid \d+ .*which no longer runs/);
    assert.equal(readFileSync(out, 'utf8'), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
