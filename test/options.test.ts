/**
 * Option parsing shared by every bin (src/cli.ts, src/validate.ts): one value per flag (a positional after a
 * list option stays a positional), a single-value option given twice keeps the last value, and option
 * values are checked alike in every tool (exit 2, one line naming the valid values).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const work = mkdtempSync(join(tmpdir(), 'ct-options-test-'));
after(() => rmSync(work, { recursive: true, force: true }));
const sample = readFileSync(join(root, 'test/fixtures/studies-sample.ndjson'), 'utf8');

function run(tool: string, args: string[], input = '', extraEnv: Record<string, string> = {}) {
  const env = { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: work, DATABASE_URL, ...extraEnv };
  const r = spawnSync(process.execPath, [join(root, 'bin', tool), ...args], { env, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const oneLine = (stderr: string) => assert.equal(stderr.trim().split('\n').length, 1, stderr);

test('a list option takes one value per flag: the query after --status stays the query', () => {
  const r = run('ct-search', ['--status', 'RECRUITING', 'cancer', '--table', `options_missing_${process.pid}`]);
  // The query was taken (not stdin): ct-search went on to open the table.
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ct-search: .*options_missing_\d+.* does not exist/);
  const f = run('ct-fetch', ['--status', 'recruiting', 'extra']);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^ct-fetch: Unknown argument: extra/);
});

test('a single-value option given twice keeps the last value, in every tool', () => {
  const twice = run('ct-prepare', ['--start-year', '2000', '--start-year', '2016', '--no-raw'], sample);
  assert.equal(twice.code, 0, twice.stderr);
  assert.match(twice.stderr, /40 before 2016/);
  const a = join(work, 'a.ndjson');
  const b = join(work, 'b.ndjson');
  const o = run('ct-prepare', ['-o', a, '--out', b, '-q', '--no-raw'], sample);
  assert.equal(o.code, 0, o.stderr);
  assert.equal(existsSync(a), false);
  assert.equal(readFileSync(b, 'utf8').trim().split('\n').length, 40);
  // Empty input: ct-load stops before connecting, after parsing --table.
  const t = run('ct-load', ['--table', 'a', '--table', 'b.c']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /^ct-load: loading into "b"."c" at /m);
  const e = run('ct-embed', ['--provider', 'hash', '--dimensions', '4', '--dimensions', '8', '-q', '--text-field', 'x', '--text-field', 'text'], '{"text":"a"}\n');
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as { embedding: number[] }).embedding.length, 8);
});

test('filters are checked: unknown statuses, phases and study types → exit 2 listing the valid ones; an empty query → exit 2', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['ct-search', ['x', '--status', 'FOO'], /^ct-search: --status: unknown FOO; valid: ACTIVE_NOT_RECRUITING, COMPLETED, .*RECRUITING/],
    ['ct-search', ['x', '--status', 'recruiting,nope'], /^ct-search: --status: unknown NOPE; valid: /],
    ['ct-search', ['x', '--phase', '7'], /^ct-search: --phase: unknown PHASE7; valid: NA, EARLY_PHASE1, PHASE1, PHASE2, PHASE3, PHASE4$/m],
    ['ct-search', ['x', '--study-type', 'clinical'], /^ct-search: --study-type: unknown CLINICAL; valid: EXPANDED_ACCESS, INTERVENTIONAL, OBSERVATIONAL$/m],
    ['ct-search', [''], /^ct-search: the query is empty/],
    ['ct-search', ['   '], /^ct-search: the query is empty/],
    ['ct-search', ['x', '--start-year', '15'], /^ct-search: --start-year must be a four-digit year \(YYYY\), got 15$/m],
    ['ct-fetch', ['--status', 'recruiting', '--status', 'FOO'], /^ct-fetch: --status: unknown FOO; valid: /],
    ['ct-fetch', ['--start-year', '15'], /^ct-fetch: --start-year must be a four-digit year \(YYYY\), got 15$/m],
    ['ct-prepare', ['--start-year', '15'], /^ct-prepare: --start-year must be a four-digit year \(YYYY\), got 15$/m],
    ['ct-load', ['--batch-size', '0'], /^ct-load: --batch-size must be a whole number from 1 up, got 0$/m],
    ['ct-embed', ['--provider', 'hash', '--concurrency', '0'], /^ct-embed: --concurrency must be a whole number from 1 to 256, got 0$/m],
  ];
  for (const [tool, args, want] of cases) {
    const r = run(tool, args);
    assert.equal(r.code, 2, `${tool} ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want, `${tool} ${args.join(' ')}`);
    oneLine(r.stderr);
    assert.equal(r.stdout, '');
  }
  // Statuses in any case and with spaces are the API's codes.
  const ok = run('ct-search', ['x', '--status', 'not yet recruiting', '--table', `options_missing_${process.pid}`]);
  assert.equal(ok.code, 1, ok.stderr);
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

test('a tool about to read records (or queries) from a terminal prints a one-line hint', { skip: !hasScript && 'needs script(1) for a terminal' }, () => {
  for (const [tool, args, want] of [
    ['ct-prepare', ['-q'], /^ct-prepare: reading records from the terminal \(end with Ctrl-D\)/m],
    ['ct-embed', ['-q', '--provider', 'hash'], /^ct-embed: reading records from the terminal/m],
    ['ct-load', ['-q', '--pglite-dir', join(work, 'tty-db')], /^ct-load: reading records from the terminal/m],
    ['ct-search', ['--table', `options_missing_${process.pid}`], /^ct-search: reading queries from the terminal, one per line/m],
  ] as const) {
    // script(1) gives the tool a terminal whose input ends at once (stdin is /dev/null).
    const cmd = [process.execPath, join(root, 'bin', tool), ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', input: '', timeout: 60_000, env: { ...process.env, DATABASE_URL } });
    assert.match(r.stdout, want, `${tool}: ${r.stdout}`);
  }
});

test('no record at all (the command before failed) is a warning on stderr, whatever --quiet says', () => {
  for (const tool of ['ct-prepare', 'ct-embed', 'ct-load']) {
    const r = run(tool, ['-q', ...(tool === 'ct-embed' ? ['--provider', 'hash'] : [])], '');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `${tool}: warning: no records in stdin (did the command before it fail? \`set -o pipefail\` makes a pipeline fail with it)\n`);
    assert.equal(r.stdout, '');
  }
});
