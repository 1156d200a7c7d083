/**
 * Progress on a real terminal (script(1) gives the tools a pseudo-terminal): a bar when a tool has the
 * line to itself, plain lines of its own when it is part of a pipeline, no share for an input of unknown
 * size, no `ETA LLs`, and the cursor shown again after SIGINT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (tool: string) => join(root, 'bin', tool);
const studies = join(root, 'test', 'fixtures', 'studies.ndjson');
const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };
const HIDE = '\x1b[?25l';
const SHOW = '\x1b[?25h';

/** Run a shell command on a pseudo-terminal; what the terminal received (undefined without script(1)). */
function onTerminal(dir: string, command: string): string | undefined {
  const log = join(dir, `typescript-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync('script', ['-q', '-e', '-c', command, log], { env, timeout: 60_000 });
  if (r.error) return undefined;
  return readFileSync(log, 'utf8').split('\n').filter((l) => !l.startsWith('Script ')).join('\n');
}

test('alone on the terminal: a live bar, no ETA LLs, cursor shown at the end', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-tty-'));
  try {
    const out = onTerminal(dir, `${bin('ct-prepare')} ${studies} -o ${join(dir, 'o.ndjson')}`);
    if (out === undefined) return t.skip('script(1) is not available');
    assert.ok(out.includes(HIDE), 'a bar was drawn');
    assert.ok(out.lastIndexOf(SHOW) > out.lastIndexOf(HIDE), 'the cursor is shown again');
    assert.doesNotMatch(out, /LLs|NULL/);
    assert.match(out, /ct-prepare: 553 in, 553 out/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in a pipeline: no tool redraws a line, each prints its own lines', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-tty-'));
  try {
    const out = onTerminal(dir, `${bin('ct-prepare')} ${studies} | ${bin('ct-embed')} --provider hash -o ${join(dir, 'e.ndjson')}`);
    if (out === undefined) return t.skip('script(1) is not available');
    assert.ok(!out.includes(HIDE), 'no bar');
    assert.doesNotMatch(out, /\r(?!\n)|\x1b\[\d*G/, 'no carriage return or cursor move that would draw over a line');
    const lines = out.split(/\r?\n/).filter(Boolean);
    assert.ok(lines.some((l) => /^ct-prepare: 553 in/.test(l)) && lines.some((l) => /^ct-embed: 553 records/.test(l)), out);
    for (const l of lines) assert.ok(!(l.includes('ct-prepare') && l.includes('ct-embed')), `one tool per line: ${l}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown input size: counts and rate, no share; SIGINT shows the cursor again before the one line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-tty-'));
  try {
    const fifo = join(dir, 'in.fifo');
    const o = join(dir, 'o.ndjson');
    // The input is a FIFO kept open for a while: its size is unknown and the run is still going at the signal.
    const out = onTerminal(dir, `mkfifo ${fifo}; (head -n 50 ${studies}; sleep 4) > ${fifo} & ${bin('ct-prepare')} ${fifo} -o ${o} --dedupe first & p=$!; sleep 2; kill -INT $p; wait $p; echo "rc=$?"`);
    if (out === undefined) return t.skip('script(1) is not available');
    assert.ok(out.includes(HIDE), 'a counter was drawn');
    assert.doesNotMatch(out, /%/, 'no share of an unknown size');
    assert.match(out, /ct-prepare \d+ records \| \d+\/s/);
    const shown = out.lastIndexOf(SHOW);
    const line = out.indexOf(`ct-prepare: interrupted; ${o}.partial kept, run again to resume`);
    assert.ok(line > 0, out);
    assert.ok(shown > out.lastIndexOf(HIDE) && shown < line, 'cursor shown, then the line');
    assert.match(out, /rc=130/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
