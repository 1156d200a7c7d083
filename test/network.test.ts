/**
 * Network trouble on the compiled binaries: a malformed URL is a usage error at once (exit 2, naming the
 * option); a refused port (bound, closed, then used) fails within about 10 s with the address and the cause.
 * DNS failures are covered by injected errors in src/util/net.test.ts: tests never resolve a real name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (tool: string) => join(root, 'bin', tool);
const baseEnv: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', NO_COLOR: '1' };
delete baseEnv.DATABASE_URL;
delete baseEnv.OPENAI_API_KEY;
delete baseEnv.OPENAI_BASE_URL;
delete baseEnv.CT_API_URL;

/** A local port nobody listens on: bind it, close it, use it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function run(tool: string, args: string[], env: Record<string, string> = {}, input = '') {
  const t0 = Date.now();
  const r = spawnSync(bin(tool), args, { env: { ...baseEnv, ...env }, input, timeout: 60_000 });
  return { code: r.status, stderr: r.stderr.toString(), seconds: (Date.now() - t0) / 1000 };
}

test('malformed URLs: exit 2 at once, naming the option or the variable', () => {
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['ct-fetch', ['--base-url', 'not-a-url'], {}, /^ct-fetch: --base-url: not an http\(s\) URL: not-a-url\n$/],
    ['ct-fetch', [], { CT_API_URL: 'clinicaltrials.gov/api/v2' }, /^ct-fetch: CT_API_URL: not an http\(s\) URL: clinicaltrials\.gov\/api\/v2\n$/],
    ['ct-embed', ['--base-url', 'localhost:1/v1'], { OPENAI_API_KEY: 'sk-test' }, /^ct-embed: --base-url: not an http\(s\) URL: localhost:1\/v1\n$/],
    ['ct-embed', [], { OPENAI_BASE_URL: 'not-a-url' }, /^ct-embed: OPENAI_BASE_URL: not an http\(s\) URL: not-a-url\n$/],
    ['ct-load', ['--database-url', 'notaurl'], {}, /^ct-load: --database-url: not a postgres:\/\/ URL: notaurl\n$/],
    ['ct-load', [], { DATABASE_URL: 'base:5432' }, /^ct-load: DATABASE_URL: not a postgres:\/\/ URL: base:5432\n$/],
    ['ct-prepare', ['--skip-existing', '--database-url', 'notaurl'], {}, /^ct-prepare: --database-url: not a postgres:\/\/ URL: notaurl\n$/],
  ];
  for (const [tool, args, env, want] of cases) {
    const r = run(tool, args, env, '{}\n');
    assert.equal(r.code, 2, `${tool} ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.ok(r.seconds < 5, `${tool} took ${r.seconds} s`);
  }
});

test('a refused port on the first request: each tool fails within about 10 s naming the address', async () => {
  const port = await closedPort();
  const cases: Array<[string, string[], Record<string, string>, string]> = [
    ['ct-fetch', ['--base-url', `http://127.0.0.1:${port}/api/v2`, '--limit', '5'], {}, ''],
    ['ct-embed', ['--base-url', `http://127.0.0.1:${port}/v1`], { OPENAI_API_KEY: 'sk-test' }, '{"nct_id":"NCT1","text":"a"}\n'],
    ['ct-load', [], { DATABASE_URL: `postgres://u:S3cretPw@127.0.0.1:${port}/db` }, '{"nct_id":"NCT1"}\n'],
  ];
  for (const [tool, args, env, input] of cases) {
    const r = run(tool, args, env, input);
    assert.equal(r.code, 1, `${tool}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${tool}: (cannot connect to \\S+: )?connection refused by 127\\.0\\.0\\.1:${port} \\(`));
    assert.doesNotMatch(r.stderr, /NCT1|S3cretPw|stdin:1/, 'no record is blamed, no password shown');
    assert.ok(r.seconds < 12, `${tool} took ${r.seconds} s`);
  }
});

test('a name that does not resolve (lookup injected into the binaries: nothing is resolved) fails fast naming the host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-nodns-'));
  try {
    // Preloaded into each tool: dns.lookup answers EAI_AGAIN itself, as an offline resolver would.
    const preload = join(dir, 'no-dns.cjs');
    writeFileSync(preload, `const dns = require('node:dns');
dns.lookup = (host, opts, cb) => {
  if (typeof opts === 'function') cb = opts;
  setTimeout(() => cb(Object.assign(new Error('getaddrinfo EAI_AGAIN ' + host), { code: 'EAI_AGAIN', syscall: 'getaddrinfo', hostname: host })), 20);
};
`);
    const env = { NODE_OPTIONS: `--require ${preload}` };
    const cases: Array<[string, string[], Record<string, string>, string, RegExp]> = [
      ['ct-fetch', ['--limit', '1'], {}, '', /^ct-fetch: cannot resolve clinicaltrials\.gov \(DNS: EAI_AGAIN\) \(4 attempts in \d+\.\d s\)$/m],
      ['ct-embed', [], { OPENAI_API_KEY: 'sk-test' }, '{"nct_id":"NCT1","text":"a"}\n', /^ct-embed: cannot resolve api\.openai\.com \(DNS: EAI_AGAIN\) \(no answer in \d+\.\d s\)$/m],
      ['ct-load', [], { DATABASE_URL: 'postgres://u:S3cretPw@db.example.test/db' }, '{"nct_id":"NCT1"}\n', /^ct-load: cannot connect to postgres:\/\/u:\*\*\*@db\.example\.test\/db: cannot resolve db\.example\.test \(DNS: EAI_AGAIN\) \(4 attempts in \d+\.\d s\)$/m],
    ];
    for (const [tool, args, extra, input, want] of cases) {
      const r = run(tool, args, { ...env, ...extra }, input);
      assert.equal(r.code, 1, `${tool}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /NCT1|S3cretPw/);
      assert.ok(r.seconds < 12, `${tool} took ${r.seconds} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
