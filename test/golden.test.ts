/**
 * Golden tests: each folder test/golden/<tool>/<case>/ holds `cmd` (a bash line, run in that folder with the
 * project's bin/ and test/golden/bin/ first on PATH, $TMP a fresh temp dir and $DATABASE_URL the test database)
 * and the expected `stdout`,
 * `stderr` and `status`. Timings in stderr are masked. `UPDATE_GOLDEN=1 npm test -- golden` rewrites the
 * expectations; review the diff.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const goldenDir = join(root, 'test', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';
/** The database the ct-load and ct-search cases use (shown as `$DATABASE_URL` in their output). */
const DATABASE_URL = process.env.CT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Mask what varies between runs: durations and rates. */
export function mask(s: string): string {
  return s
    .replace(/\b\d+(\.\d+)? s\b/g, '<secs>')
    .replace(/\b\d[\d,]* ([a-z]+)\/s\b/g, '<rate> $1/s')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
}

for (const tool of readdirSync(goldenDir).filter((d) => d.startsWith('ct-')).sort()) {
  describe(`golden ${tool}`, () => {
    for (const name of readdirSync(join(goldenDir, tool)).sort()) {
      const dir = join(goldenDir, tool, name);
      if (!existsSync(join(dir, 'cmd'))) continue;
      test(name, () => {
        const cmd = readFileSync(join(dir, 'cmd'), 'utf8').trim();
        const tmp = mkdtempSync(join(tmpdir(), `golden-${name}-`));
        try {
          const r = spawnSync('bash', ['-c', cmd], {
            cwd: dir,
            encoding: 'utf8',
            timeout: 300_000, // the 50 MB-line cases take a minute on a busy machine
            env: {
              ...process.env,
              PATH: `${join(root, 'bin')}:${join(goldenDir, 'bin')}:${process.env.PATH}`,
              TMP: tmp,
              DATABASE_URL,
              // A case that reached the network would go to a closed loopback port, never to a resolver.
              CT_API_URL: 'http://127.0.0.1:9/api/v2',
              TZ: 'UTC',
              NO_COLOR: '1',
            },
          });
          const got = {
            stdout: r.stdout.replaceAll(tmp, '$TMP').replaceAll(DATABASE_URL, '$DATABASE_URL'),
            stderr: mask(r.stderr.replaceAll(tmp, '$TMP').replaceAll(DATABASE_URL, '$DATABASE_URL')),
            status: `${r.status}\n`,
          };
          for (const k of ['stdout', 'stderr', 'status'] as const) {
            const file = join(dir, k);
            if (update) writeFileSync(file, got[k]);
            const want = existsSync(file) ? readFileSync(file, 'utf8') : '';
            assert.equal(got[k], want, `${tool}/${name}: ${k} differs\n$ ${cmd}`);
          }
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      });
    }
  });
}
