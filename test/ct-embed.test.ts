/**
 * ct-embed end to end: the compiled bin against the OpenAI mock (in process, so its counters are readable)
 * or the offline hash provider. Every test gets its own cache directory and HOME.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { float32Value } from '../src/io/f32json.js';
import { mockVector, startOpenAIMock, type OpenAIMock } from './mocks/openai-mock.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/ct-embed');
const SECRET = 'sk-test-DO-NOT-PRINT-4f9a1c2b7e';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const work = mkdtempSync(join(tmpdir(), 'ct-embed-test-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const tmp = (name: string) => join(work, `${++n}-${name}`);

/** A clean environment: no OPENAI_* from the caller, a private HOME and cache. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = tmp('home');
  return { PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', HOME: home, XDG_CACHE_HOME: join(home, 'cache'), ...extra };
}

function run(args: string[], input: string, e: NodeJS.ProcessEnv = env()): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: e });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const fail = (r: Result) => `exit ${r.code}\nstderr: ${r.stderr}`;

/** Prepared trial records from the fixture (ct-prepare), and copies with new ids and texts. */
let prepared: Array<Record<string, unknown>>;
let preparedText: string;
function replicate(count: number, tag: string): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => {
    const r = prepared[i % prepared.length]!;
    const id = `NCT${tag}${String(i).padStart(6, '0')}`;
    return { nct_id: id, title: r.title, text: `${id}\n${r.text as string}` };
  });
}
const ndjson = (recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

before(() => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/ct-prepare'), '--no-raw', '-q', join(ROOT, 'test/fixtures/studies-sample.ndjson')], {
    encoding: 'utf8',
    env: env(),
  });
  assert.equal(r.status, 0, r.stderr);
  preparedText = r.stdout;
  prepared = lines(r.stdout);
});

function assertVector(actual: unknown, expected: Float32Array, what: string): void {
  assert.ok(Array.isArray(actual), `${what}: no vector`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  // Exactly the float32's shortest text (which reads back as that float32).
  for (let i = 0; i < expected.length; i++) {
    const want = float32Value(expected[i]!);
    if (actual[i] !== want || Math.fround(want) !== expected[i]) assert.fail(`${what}[${i}]: ${actual[i]} != ${want} (${expected[i]})`);
  }
}

/** Numbers from the summary line, e.g. `12 texts sent` → summaryNumber(s, 'texts sent'). */
function summaryNumber(stderr: string, label: string): number {
  const m = new RegExp(`([\\d,]+) ${label}`).exec(stderr);
  assert.ok(m, `no "${label}" in: ${stderr}`);
  return Number(m[1]!.replace(/,/g, ''));
}

describe('provider choice', () => {
  test('no provider and no OPENAI_* → exit 2 naming both ways forward', async () => {
    const r = await run([], preparedText);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ct-embed: no embedding provider: .*--provider hash.*OPENAI_API_KEY/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
  test('bad options are usage errors', async () => {
    for (const args of [['--provider', 'hash', '--batch-size', '4096'], ['--provider', 'openai', '--model', 'my-model'], ['--provider', 'hash', '--model', 'x']]) {
      const r = await run(args, '', env({ OPENAI_API_KEY: SECRET }));
      assert.equal(r.code, 2, `${args.join(' ')}: ${fail(r)}`);
    }
  });
});

describe('hash provider (offline)', () => {
  test('one deterministic unit vector per record, in input order', async () => {
    const a = await run(['--provider', 'hash'], preparedText);
    assert.equal(a.code, 0, fail(a));
    const b = await run(['--provider', 'hash', '-q'], preparedText);
    assert.equal(a.stdout, b.stdout);
    const out = lines(a.stdout);
    assert.deepEqual(out.map((r) => r.nct_id), prepared.map((r) => r.nct_id));
    for (const r of out) {
      const v = r.embedding as number[];
      assert.equal(v.length, 1536);
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
      // Each number is its float32's shortest text: it reads back as that float32, and is that text's double.
      assert.ok(v.every((x) => float32Value(Math.fround(x)) === x), 'shortest float32 text');
      assert.equal(r.embedding_model, 'hash/fh-v2@1536');
    }
    const texts = [...a.stdout.matchAll(/"embedding":\[([^\]]*)\]/g)].map((m) => m[1]!);
    assert.equal(texts.length, 40);
    for (const t of texts) for (const x of t.split(',')) assert.ok(x.replace(/e.*$/, '').replace(/\D/g, '').replace(/^0+/, '').length <= 9, `${x}: more than 9 digits`);
    assert.match(a.stderr, /ct-embed: 40 records, 40 embedded, 0 empty, 0 rejected/);
  });

  test('Arrow output stores the vector as FixedSizeList<Float32>', async () => {
    const r = spawnSync(process.execPath, [BIN, '--provider', 'hash', '--dimensions', '16', '--format', 'arrow', '-q'], { input: preparedText, env: env() });
    assert.equal(r.status, 0, String(r.stderr));
    const table = tableFromIPC(r.stdout);
    assert.equal(table.numRows, 40);
    assert.equal(String(table.schema.fields.find((f) => f.name === 'embedding')!.type), 'FixedSizeList[16]<Float32>');
    const ndj = lines((await run(['--provider', 'hash', '--dimensions', '16', '-q'], preparedText)).stdout);
    // The same float32 values (NDJSON spells each as its shortest text).
    assert.deepEqual(Array.from(table.getChild('embedding')!.get(3)!), Array.from(Float32Array.from(ndj[3]!.embedding as number[])));
  });

  test('a non-trials dataset with --text-field and --template; empty texts pass through', async () => {
    const docs = [{ id: 1, body: 'Cats purr.' }, { id: 2, body: '' }, { id: 3, body: 'Dogs bark.', title: 'Dogs' }];
    const r = await run(['--provider', 'hash', '--text-field', 'body', '--dimensions', '8'], ndjson(docs));
    assert.equal(r.code, 0, fail(r));
    const out = lines(r.stdout);
    assert.deepEqual(out.map((x) => x.id), [1, 2, 3]);
    assert.equal((out[0]!.embedding as number[]).length, 8);
    assert.equal(out[1]!.embedding, null);
    assert.equal(out[1]!.embedding_model, null);
    assert.match(r.stderr, /2 embedded, 1 empty/);
    const t = await run(['--provider', 'hash', '--template', '{title}\\n{body}', '--dimensions', '8', '--embedding-field', 'vec', '-q'], ndjson(docs));
    const tout = lines(t.stdout);
    assert.ok(Array.isArray(tout[1]!.vec) === false && tout[1]!.vec === null);
    assert.deepEqual(tout[0]!.vec, out[0]!.embedding, 'a missing field renders empty');
    assert.notDeepEqual(tout[2]!.vec, out[2]!.embedding);
  });
});

describe('what is not text', () => {
  test('a --text-field or --template field no record has → exit 2 naming the fields there, nothing written', async () => {
    const out = tmp('typo.ndjson');
    const r = await run(['--provider', 'hash', '--text-field', 'nope', '-o', out], preparedText);
    assert.equal(r.code, 2, fail(r));
    assert.match(r.stderr, /^ct-embed: --text-field nope: none of the first 40 records has that field; fields there: nct_id, .*\btext\b/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.throws(() => readFileSync(out), /ENOENT/);
    const t = await run(['--provider', 'hash', '--template', '{titel}\\n{text}'], preparedText);
    assert.equal(t.code, 2, fail(t));
    assert.match(t.stderr, /^ct-embed: --template: \{titel\}: none of the first 40 records has that field; fields there: nct_id, /);
    assert.equal(t.stdout, '');
  });

  test('a record whose text is missing, a number or an object is a bad record; good ones around it come through', async () => {
    const docs = [{ id: 1, text: 'Cats purr.' }, { id: 2 }, { id: 3, text: 42 }, { id: 4, text: { a: 1 } }, { id: 5, text: '' }, { id: 6, text: 'Dogs bark.' }];
    const stop = await run(['--provider', 'hash', '--dimensions', '8'], ndjson(docs));
    assert.equal(stop.code, 1, fail(stop));
    assert.equal(stop.stderr, 'ct-embed: stdin:2: 2: no field "text" (see --text-field)\n');
    const rejects = tmp('rejects.ndjson');
    const r = await run(['--provider', 'hash', '--dimensions', '8', '--rejects', rejects], ndjson(docs));
    assert.equal(r.code, 0, fail(r));
    assert.deepEqual(lines(r.stdout).map((x) => [x.id, Array.isArray(x.embedding)]), [[1, true], [5, false], [6, true]]);
    assert.deepEqual(lines(readFileSync(rejects, 'utf8')).map((x) => [x.where, x.reason]), [
      ['stdin:2', '2: no field "text" (see --text-field)'],
      ['stdin:3', '3: field "text" is a number (42), not text'],
      ['stdin:4', '4: field "text" is an object, not text'],
    ]);
    assert.match(r.stderr, /6 records, 2 embedded, 1 empty, 3 rejected/);
  });
});

describe('openai provider against the mock', () => {
  let mock: OpenAIMock;
  before(async () => {
    mock = await startOpenAIMock({ requireKey: SECRET });
  });
  after(() => mock.close());
  const oenv = (extra: Record<string, string> = {}) => env({ OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: mock.url, ...extra });

  for (const encoding of ['float', 'base64'] as const) {
    test(`${encoding}: exact vectors in input order`, async () => {
      mock.resetStats();
      const r = await run(['--encoding', encoding, '--dimensions', '256', '--batch-size', '16'], preparedText, oenv());
      assert.equal(r.code, 0, fail(r));
      const out = lines(r.stdout);
      assert.deepEqual(out.map((x) => x.nct_id), prepared.map((x) => x.nct_id));
      out.forEach((rec, i) => assertVector(rec.embedding, mockVector(prepared[i]!.text as string, 256), `record ${i}`));
      assert.equal(out[0]!.embedding_model, `openai@${new URL(mock.url).host}/text-embedding-3-small@256`);
      assert.deepEqual(mock.requestLog.map((e) => [e.inputs, e.encoding, e.dimensions]), [[16, encoding, 256], [16, encoding, 256], [8, encoding, 256]]);
    });
  }

  test('batching limits hold for every request; long texts are truncated and counted', async () => {
    mock.resetStats();
    // ~8,000 tokens each: 300,000 tokens fit 37 of them, so the token limit cuts before --batch-size does.
    const big = Array.from({ length: 45 }, (_, i) => ({ id: i, body: `doc ${i} ` + 'lorem ipsum '.repeat(i === 7 ? 6000 : 3990) }));
    const r = await run(['--text-field', 'body', '--batch-size', '40', '--dimensions', '4'], ndjson(big), oenv());
    assert.equal(r.code, 0, fail(r));
    assert.equal(lines(r.stdout).length, 45);
    assert.ok(mock.requestLog.length >= 2);
    for (const e of mock.requestLog) {
      assert.equal(e.status, 200);
      assert.ok(e.inputs <= 40 && e.tokens <= 300_000, JSON.stringify(e));
    }
    assert.equal(mock.stats.inputs, 45);
    assert.equal(summaryNumber(r.stderr, 'truncated'), 1);
    const rejects = tmp('rejects.ndjson');
    const nt = await run(['--text-field', 'body', '--dimensions', '4', '--no-truncate', '--rejects', rejects, '-q'], ndjson(big.slice(0, 9)), oenv({ XDG_CACHE_HOME: tmp('c') }));
    assert.equal(nt.code, 0, fail(nt));
    assert.equal(lines(nt.stdout).length, 8);
    const rej = lines(readFileSync(rejects, 'utf8'));
    assert.equal(rej.length, 1);
    assert.match(String(rej[0]!.reason), /^7: text has more than 8191 tokens/);
  });

  test('dry run counts what a real run sends; a second run sends nothing', async () => {
    const cache = tmp('cache');
    const recs = replicate(300, 'D');
    recs.splice(10, 0, { nct_id: 'EMPTY', text: '' }, { ...recs[3]! }); // an empty text and a repeat
    const input = ndjson(recs);
    const args = ['--cache', cache, '--batch-size', '50', '--dimensions', '64'];
    mock.resetStats();
    const dry = await run([...args, '--dry-run'], input, oenv());
    assert.equal(dry.code, 0, fail(dry));
    assert.equal(dry.stdout, '');
    assert.equal(mock.stats.requests, 0, 'a dry run calls nothing');
    const real = await run(args, input, oenv());
    assert.equal(real.code, 0, fail(real));
    assert.equal(summaryNumber(dry.stderr, 'texts to send'), mock.stats.inputs);
    assert.equal(Number(/\(([\d,]+) tokens/.exec(dry.stderr)![1]!.replace(/,/g, '')), mock.stats.tokens);
    assert.equal(summaryNumber(dry.stderr, 'requests'), mock.stats.okRequests);
    assert.equal(mock.stats.inputs, 300, 'the repeat is sent once, the empty text not at all');
    assert.match(real.stderr, /302 records, 301 embedded/);
    mock.resetStats();
    const again = await run(args, input, oenv());
    assert.equal(again.code, 0, fail(again));
    assert.equal(mock.stats.requests, 0);
    assert.equal(again.stdout, real.stdout);
    assert.match(again.stderr, /301 cached, 0 texts sent/);
    const dry2 = await run([...args, '--dry-run'], input, oenv());
    assert.match(dry2.stderr, /0 texts to send \(0 tokens, 0 requests\)/);
  });

  test('--dry-run -o FILE --tee FILE writes no file and no checkpoint', async () => {
    const out = tmp('dry.ndjson');
    const tee = tmp('dry-tee.ndjson');
    const r = await run(['--dry-run', '-o', out, '--tee', tee, '--dimensions', '8', '--no-cache'], preparedText, oenv());
    assert.equal(r.code, 0, fail(r));
    assert.match(r.stderr, /^ct-embed: --dry-run writes no records: .*dry\.ndjson, .*dry-tee\.ndjson left alone\n/);
    assert.match(r.stderr, /dry run for openai@127\.0\.0\.1:\d+\/text-embedding-3-small@8: 40 records/);
    for (const f of [out, tee, `${out}.meta.json`, `${tee}.meta.json`, `${out}.partial`, `${tee}.partial`]) assert.equal(existsSync(f), false, f);
  });

  test('a 429 storm (30%, plus 500s and resets) completes with every record embedded', async () => {
    mock.resetStats();
    mock.setFaults({ rate429: 0.3, rate500: 0.05, rateReset: 0.05, retryAfterSeconds: 0.05 });
    try {
      const recs = replicate(400, 'S');
      const r = await run(['--no-cache', '--batch-size', '10', '--dimensions', '32', '--concurrency', '6'], ndjson(recs), oenv());
      assert.equal(r.code, 0, fail(r));
      const out = lines(r.stdout);
      assert.equal(out.length, 400);
      out.forEach((rec, i) => assertVector(rec.embedding, mockVector(recs[i]!.text as string, 32), `record ${i}`));
      assert.ok(mock.stats.faults > 0);
      assert.equal(summaryNumber(r.stderr, 'retries'), mock.stats.requests - mock.stats.okRequests);
    } finally {
      mock.setFaults({});
    }
  });

  test('an answer with repeated indices is a failed request: retried, then exit 1 naming the batch, never a null vector', async () => {
    mock.resetStats();
    mock.setFaults({ sameIndex: true });
    try {
      const out = tmp('same-index.ndjson');
      const r = await run(['--no-cache', '--dimensions', '8', '--max-retries', '2', '-o', out], preparedText, oenv());
      assert.equal(r.code, 1, fail(r));
      assert.match(r.stderr, /^ct-embed: batch 1 \(stdin:1–stdin:\d+\): gave up after 3 attempts: server answered index 0 twice/);
      assert.equal(mock.stats.requests, 3);
      assert.equal(r.stdout, '');
      assert.throws(() => readFileSync(out), /ENOENT/, 'no output file is committed');
    } finally {
      mock.setFaults({});
    }
  });

  test('the API key never appears on stderr or in the checkpoint metadata', async () => {
    const tee = tmp('out.ndjson');
    const ok = await run(['--tee', tee, '--dimensions', '8', '--no-cache'], preparedText, oenv());
    assert.equal(ok.code, 0, fail(ok));
    const bad = await run(['--dimensions', '8', '--no-cache'], preparedText, oenv({ OPENAI_API_KEY: `${SECRET}-wrong` }));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ct-embed: .*401|Incorrect API key/);
    for (const text of [ok.stderr, bad.stderr, readFileSync(`${tee}.meta.json`, 'utf8')]) {
      assert.ok(!text.includes(SECRET) && !text.includes(SECRET.slice(8, 24)), text);
    }
    const meta = JSON.parse(readFileSync(`${tee}.meta.json`, 'utf8')) as Record<string, unknown>;
    assert.equal(meta.embedding_model, `openai@${new URL(mock.url).host}/text-embedding-3-small@8`);
  });

  test('two compatible servers never share cache entries, and their labels tell them apart', async () => {
    const other = await startOpenAIMock({ requireKey: SECRET });
    try {
      const cache = tmp('cache');
      const args = ['--cache', cache, '--dimensions', '8', '--batch-size', '100'];
      mock.resetStats();
      const a = await run(args, preparedText, oenv());
      assert.equal(a.code, 0, fail(a));
      assert.equal(mock.stats.inputs, prepared.length);
      // The same texts, model and size from another server: nothing comes from the first one's entries.
      const b = await run(args, preparedText, oenv({ OPENAI_BASE_URL: other.url }));
      assert.equal(b.code, 0, fail(b));
      assert.equal(other.stats.inputs, prepared.length, 'the second server is asked for every text');
      const [la, lb] = [lines(a.stdout)[0]!.embedding_model, lines(b.stdout)[0]!.embedding_model];
      assert.equal(la, `openai@${new URL(mock.url).host}/text-embedding-3-small@8`);
      assert.equal(lb, `openai@${new URL(other.url).host}/text-embedding-3-small@8`);
      // Each server's own entries still serve it (a trailing slash is the same server).
      mock.resetStats();
      const again = await run(args, preparedText, oenv({ OPENAI_BASE_URL: `${mock.url}/` }));
      assert.equal(again.code, 0, fail(again));
      assert.equal(mock.stats.requests, 0);
      assert.equal(lines(again.stdout)[0]!.embedding_model, la);
    } finally {
      await other.close();
    }
  });
});

describe('kill -9 and resume', () => {
  test('a rerun sends no text twice beyond the batches in flight at the kill; a third run sends nothing', async () => {
    const mock = await startOpenAIMock({ delayMs: 60 });
    try {
      const N = 300;
      const batch = 10;
      const concurrency = 2;
      const recs = replicate(N, 'K');
      const input = tmp('in.ndjson');
      writeFileSync(input, ndjson(recs));
      const e = env({ OPENAI_BASE_URL: mock.url });
      const args = [input, '--cache', tmp('cache'), '--batch-size', String(batch), '--concurrency', String(concurrency), '--dimensions', '16', '-q'];
      const child = spawn(process.execPath, [BIN, ...args], { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise((r) => child.on('close', r));
      // Kill once a few batches are done (bounded wait).
      for (let i = 0; i < 400 && mock.stats.okRequests < 8; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(mock.stats.okRequests >= 8, 'the run got going');
      child.kill('SIGKILL');
      await exited;
      const before = mock.stats.inputs;
      assert.ok(before < N, 'killed mid-run');
      const r = await run(args, '', e);
      assert.equal(r.code, 0, fail(r));
      assert.ok(mock.stats.inputs <= N + concurrency * batch, `sent ${mock.stats.inputs} inputs for ${N} records`);
      const twice = [...mock.seenTexts.values()].filter((c) => c > 1).length;
      assert.ok(twice <= concurrency * batch, `${twice} texts sent twice`);
      assert.equal(mock.seenTexts.size, N);
      const total = mock.stats.inputs;
      const third = await run(args.filter((a) => a !== '-q'), '', e);
      assert.equal(third.code, 0, fail(third));
      assert.match(third.stderr, /300 cached, 0 texts sent/);
      assert.equal(mock.stats.inputs, total, 'nothing sent once everything is cached');
    } finally {
      await mock.close();
    }
  });
});
