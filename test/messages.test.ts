/** Messages a person reads: a directory as input, --help at the terminal's width without broken words. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP_WIDTH, helpWidth } from '../src/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (tool: string) => join(root, 'bin', tool);
const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };
delete env.CT_HELP_WIDTH;
const TOOLS = ['ct-fetch', 'ct-prepare', 'ct-embed', 'ct-load', 'ct-search'];

test('a directory as input is named in the error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-msg-'));
  try {
    for (const tool of ['ct-prepare', 'ct-embed', 'ct-load']) {
      const r = spawnSync(bin(tool), [dir, '--provider', 'hash'].slice(0, tool === 'ct-embed' ? 3 : 1), { env });
      assert.equal(r.status, 1, `${tool}: ${r.stderr}`);
      assert.equal(r.stderr.toString(), `${tool}: cannot read ${dir}: it is a directory, not a file\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('helpWidth: CT_HELP_WIDTH, else the terminal, else 100', () => {
  assert.equal(helpWidth({ CT_HELP_WIDTH: '72' }, { isTTY: true, columns: 150 }), 72);
  assert.equal(helpWidth({}, { isTTY: true, columns: 150 }), 150);
  assert.equal(helpWidth({}, { isTTY: true, columns: 20 }), 40);
  assert.equal(helpWidth({}, {}), HELP_WIDTH);
});

/** Every word of the option descriptions comes through whole: no line ends inside a word. */
function assertWrapped(help: string, width: number, tool: string): void {
  for (const line of help.split('\n')) assert.ok(line.length <= width, `${tool}: line longer than ${width}: ${line}`);
  const words = new Set(help.split(/\s+/));
  for (const w of ['(filter.overallStatus)', 'FILE.meta.json', 'stdout']) {
    if (tool === 'ct-fetch' || w !== '(filter.overallStatus)') {
      if (help.includes(w.slice(0, 6))) assert.ok([...words].some((x) => x.includes(w)), `${tool} at ${width}: "${w}" broken`);
    }
  }
}

test('--help wraps at word boundaries to CT_HELP_WIDTH', () => {
  for (const width of [60, 100]) {
    for (const tool of TOOLS) {
      const help = spawnSync(bin(tool), ['--help'], { env: { ...env, CT_HELP_WIDTH: String(width) } }).stdout.toString();
      assertWrapped(help, width, tool);
    }
  }
});

test("--help on a terminal fits the terminal's width (checked under script)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-msg-'));
  try {
    const log = join(dir, 'typescript');
    const r = spawnSync('script', ['-q', '-e', '-c', `stty cols 70; ${bin('ct-fetch')} --help`, log], { env });
    if (r.error || r.status !== 0) return t.skip('script(1) is not available');
    const help = readFileSync(log, 'utf8').replace(/\r/g, '').split('\n').filter((l) => !l.startsWith('Script '));
    const text = help.join('\n');
    assert.match(text, /--status/);
    assertWrapped(text, 70, 'ct-fetch');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ct-embed's progress line counts records read, with records written apart", async () => {
  const { spawn } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'ct-msg-'));
  const child = spawn(bin('ct-embed'), ['--provider', 'hash', '-o', join(dir, 'e.ndjson')], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const rec = (i: number) => JSON.stringify({ nct_id: `NCT${i}`, text: `text ${i}` }) + '\n';
  for (let i = 0; i < 5; i++) child.stdin.write(rec(i));
  await new Promise((r) => setTimeout(r, 6500)); // plain progress lines come every 5 s
  child.stdin.end(rec(5));
  await new Promise((r) => child.on('close', r));
  rmSync(dir, { recursive: true, force: true });
  // Reading runs ahead of writing (records wait for their batch): the two counts are apart, never mixed.
  assert.match(stderr, /^ct-embed: 6 records read, \d+\/s, [0-6] written$/m);
});
