/**
 * ct-fetch end to end: the compiled bin against the in-process ClinicalTrials.gov mock (loopback only).
 * The mock counts requests, so "no more pages than needed" and "nothing fetched twice" are assertions.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openInput } from '../src/io/input.js';
import { loadStudies, type CtgovMock, type CtgovMockOptions, withCtgovMock } from './mocks/ctgov-mock.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/ct-fetch');
const FIXTURE = path.join(ROOT, 'test/fixtures/studies-sample.ndjson');
const FIXTURE_TEXT = fs.readFileSync(FIXTURE, 'utf8');
const STUDIES = loadStudies(FIXTURE);
/** Fast politeness settings for tests: the defaults (1 request/s, 1 s backoff) are for the real API. */
const FAST = ['--rate', '1000', '--retry-delay', '0.01'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-fetch-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const tmpFile = (name: string) => path.join(tmp, `${++n}-${name}`);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawn bin/ct-fetch (asynchronously: the mock lives in this process). `until` may kill it early. */
function run(args: string[], opts: { env?: Record<string, string>; until?: () => boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, TZ: 'UTC', NO_COLOR: '1', ...opts.env };
    if (!opts.env?.CT_API_URL) delete env.CT_API_URL;
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let poll: NodeJS.Timeout | undefined;
    if (opts.until) {
      poll = setInterval(() => {
        if (opts.until!()) {
          clearInterval(poll);
          child.kill('SIGKILL');
        }
      }, 10);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

const withMock = <T>(opts: Partial<CtgovMockOptions>, fn: (m: CtgovMock) => Promise<T>): Promise<T> =>
  withCtgovMock({ studies: STUDIES, ...opts }, fn);

const lines = (text: string) => text.split('\n').filter(Boolean);
const idsOf = (text: string) => lines(text).map((l) => (JSON.parse(l) as { protocolSection: { identificationModule: { nctId: string } } }).protocolSection.identificationModule.nctId);
const listing = (m: CtgovMock) => m.requests.filter((r) => r.path === '/api/v2/studies');
/** The filter parameters of a request (without the paging ones). */
const filterOf = (q: Record<string, string>) => Object.fromEntries(Object.entries(q).filter(([k]) => !['pageSize', 'pageToken', 'countTotal'].includes(k)));
const pagingState = (tee: string): { pages: number; studies: number } | undefined => {
  try {
    return (JSON.parse(fs.readFileSync(`${tee}.partial.meta.json`, 'utf8')) as { fetch?: { pages: number; studies: number } }).fetch;
  } catch {
    return undefined; // not written yet, or being replaced
  }
};

/** Everything the mock returns for these API parameters, fetched directly (the expected answer). */
async function mockAnswer(m: CtgovMock, params: Record<string, string>): Promise<string[]> {
  const r = await fetch(`${m.url}/studies?${new URLSearchParams({ ...params, pageSize: '1000' })}`);
  assert.equal(r.status, 200);
  const page = (await r.json()) as { studies: Array<{ protocolSection: { identificationModule: { nctId: string } } }>; nextPageToken?: string };
  assert.equal(page.nextPageToken, undefined);
  return page.studies.map((s) => s.protocolSection.identificationModule.nctId);
}

describe('ct-fetch', () => {
  for (const pageSize of [7, 100, 1000]) {
    test(`page size ${pageSize}: the whole sample, in order, byte for byte`, () =>
      withMock({}, async (m) => {
        const r = await run(['--base-url', m.url, '--page-size', String(pageSize), ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, FIXTURE_TEXT);
        const pages = Math.ceil(40 / pageSize) + (40 % pageSize === 0 ? 1 : 0);
        assert.equal(listing(m).length, pages);
        assert.deepEqual(listing(m).map((q) => q.query.countTotal), ['true', ...Array(pages - 1).fill(undefined)]);
        const s = pages === 1 ? '' : 's';
        assert.match(r.stderr, new RegExp(`^ct-fetch: 40 studies in ${pages} page${s} \\(${pages} request${s}, 0 retries\\), \\d`, 'm'));
      }));
  }

  test('the base URL may come from CT_API_URL', () =>
    withMock({}, async (m) => {
      const r = await run(['--limit', '2', '-q', ...FAST], { env: { CT_API_URL: m.url } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lines(r.stdout).length, 2);
      assert.equal(r.stderr, '');
    }));

  test('--num-records stops early and asks for no more than it needs', () =>
    withMock({}, async (m) => {
      const r = await run(['--base-url', m.url, '--page-size', '7', '--num-records', '10', ...FAST]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, lines(FIXTURE_TEXT).slice(0, 10).join('\n') + '\n');
      assert.deepEqual(listing(m).map((q) => q.query.pageSize), ['7', '3']);
      const m2 = listing(m).length;
      const exact = await run(['--base-url', m.url, '--page-size', '7', '--limit', '14', ...FAST]);
      assert.equal(lines(exact.stdout).length, 14);
      assert.equal(listing(m).length - m2, 2, 'two full pages, no third');
      const none = await run(['--base-url', m.url, '--limit', '0', ...FAST]);
      assert.equal(none.code, 0);
      assert.equal(none.stdout, '');
      assert.equal(listing(m).length - m2, 2, 'no request for --limit 0');
    }));

  const filterCases: Array<[string[], Record<string, string>]> = [
    [['--status', 'recruiting', '--status', 'ACTIVE_NOT_RECRUITING,completed'], { 'filter.overallStatus': 'RECRUITING,ACTIVE_NOT_RECRUITING,COMPLETED' }],
    [['--start-year', '2005'], { 'filter.advanced': 'AREA[StartDate]RANGE[2005-01-01,MAX]' }],
    [['--start-year', '2005', '--no-filter-by-start-date', '--status', 'COMPLETED'], { 'filter.overallStatus': 'COMPLETED' }],
    [['--updated-since', '2023-01-01'], { 'filter.advanced': 'AREA[LastUpdatePostDate]RANGE[2023-01-01,MAX]' }],
    [
      ['--start-year', '2005', '--updated-since', '2016-01-01'],
      { 'filter.advanced': 'AREA[StartDate]RANGE[2005-01-01,MAX] AND AREA[LastUpdatePostDate]RANGE[2016-01-01,MAX]' },
    ],
    [['--advanced', 'AREA[CompletionDate]RANGE[MIN,2005-12-31]'], { 'filter.advanced': 'AREA[CompletionDate]RANGE[MIN,2005-12-31]' }],
    [['--query', 'pain'], { 'query.term': 'pain' }],
    [['--condition', 'diabetes'], { 'query.cond': 'diabetes' }],
    [['--intervention', 'placebo'], { 'query.intr': 'placebo' }],
  ];
  for (const [args, params] of filterCases) {
    test(`filter ${args.join(' ')} → ${JSON.stringify(params)}`, () =>
      withMock({}, async (m) => {
        const expected = await mockAnswer(m, params);
        assert.ok(expected.length > 0 && expected.length < 40, `the case narrows the sample (${expected.length})`);
        const before = listing(m).length;
        const r = await run(['--base-url', m.url, '--page-size', '5', ...args, ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(idsOf(r.stdout), expected);
        for (const q of listing(m).slice(before)) assert.deepEqual(filterOf(q.query), params, 'every page repeats the filters');
      }));
  }

  test('--fields is passed through and the trimmed studies come out as sent', () =>
    withMock({}, async (m) => {
      const r = await run(['--base-url', m.url, '--fields', 'NCTId,BriefTitle', '--limit', '3', ...FAST]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(listing(m)[0]!.query.fields, 'NCTId,BriefTitle');
      assert.deepEqual(Object.keys(JSON.parse(lines(r.stdout)[0]!).protocolSection.identificationModule).sort(), ['briefTitle', 'nctId']);
    }));

  test('20% faults of every kind: byte-identical output, retries reported', () =>
    withMock(
      {
        seed: 7,
        faults: {
          rate429: 0.04,
          retryAfterSeconds: 0,
          rate503: 0.04,
          rate403: 0.03,
          rateHtml200: 0.03,
          rateTruncated: 0.03,
          rateReset: 0.02,
          rateSlow: 0.01,
          slowMs: 2000,
        },
      },
      async (m) => {
        const r = await run(['--base-url', m.url, '--page-size', '3', '--timeout', '0.5', ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, FIXTURE_TEXT);
        const failed = listing(m).filter((q) => q.status !== 200 || q.query.pageSize === undefined).length;
        const pages = Math.ceil(40 / 3);
        assert.ok(listing(m).length > pages, 'faults were injected');
        const summary = /(\d+) studies in (\d+) pages \((\d+) requests, (\d+) retr(?:y|ies)\)/.exec(r.stderr);
        assert.ok(summary, r.stderr);
        assert.deepEqual(summary.slice(1, 3).map(Number), [40, pages]);
        assert.equal(Number(summary[3]), listing(m).length);
        assert.equal(Number(summary[4]), listing(m).length - pages);
        assert.ok(failed <= Number(summary[4]));
      },
    ));

  test('gives up after --max-retries with exit 1, naming the page, keeping the partial', () =>
    withMock({}, async (m) => {
      const tee = tmpFile('giveup.ndjson');
      const first = await run(['--base-url', m.url, '--page-size', '10', '--limit', '10', ...FAST]);
      assert.equal(first.code, 0);
      m.setFaults({ rate503: 1 });
      const r = await run(['--base-url', m.url, '--page-size', '10', '--max-retries', '2', '--tee', tee, ...FAST]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^ct-fetch: page 1: giving up after 3 attempts \(--max-retries 2\): HTTP 503$/m);
      assert.ok(fs.existsSync(`${tee}.partial`) && !fs.existsSync(tee));
    }));

  test('an option value the API rejects: exit 2 with the server’s message, nothing written', () =>
    withMock({}, async (m) => {
      const adv = await run(['--base-url', m.url, '--advanced', 'AREA[StartDate]RANGE[2020-13-01,MAX]', ...FAST]);
      assert.equal(adv.code, 2);
      assert.equal(adv.stdout, '');
      assert.equal(listing(m).length, 1, 'a 400 is not retried');
      assert.match(adv.stderr, /HTTP 400: Invalid filter.advanced .*invalid date '2020-13-01'/);
    }));

  test('bad option values caught before any request: exit 2', () =>
    withMock({}, async (m) => {
      for (const [args, msg] of [
        [['--page-size', '0'], /--page-size must be a whole number from 1 to 1000, got 0/],
        [['--status', 'BOGUS'], /^ct-fetch: --status: unknown BOGUS; valid: ACTIVE_NOT_RECRUITING, /],
        [['--page-size', '5000'], /--page-size must be a whole number from 1 to 1000/],
        [['--updated-since', '2025-02-30'], /--updated-since must be a date YYYY-MM-DD, got 2025-02-30/],
        [['--start-year', '14'], /--start-year must be a four-digit year \(YYYY\), got 14/],
        [['--resume'], /--resume needs --tee FILE/],
        [['--rate', '0'], /--rate must be/],
      ] as Array<[string[], RegExp]>) {
        const r = await run(['--base-url', m.url, ...args]);
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, msg);
      }
      assert.equal(listing(m).length, 0);
    }));

  describe('resume', () => {
    /** Start a run against a slow mock and SIGKILL it once `pages` pages are recorded in the checkpoint. */
    async function killedRun(m: CtgovMock, tee: string, args: string[], pages: number) {
      m.setFaults({ rateSlow: 1, slowMs: 60 });
      const r = await run(['--base-url', m.url, '--tee', tee, ...args, ...FAST], { until: () => (pagingState(tee)?.pages ?? 0) >= pages });
      m.setFaults({});
      assert.equal(r.signal, 'SIGKILL', r.stderr);
      assert.ok(fs.existsSync(`${tee}.partial`) && !fs.existsSync(tee));
      const state = pagingState(tee)!;
      assert.ok(state.pages >= pages && state.studies < 40, JSON.stringify(state));
      return { killed: r, state };
    }

    test('kill mid-run + --resume: the complete set, no duplicates, no page fetched twice', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('killed.ndjson');
        const args = ['--page-size', '5'];
        const { killed, state } = await killedRun(m, tee, args, 3);
        assert.ok(FIXTURE_TEXT.startsWith(killed.stdout), 'what was emitted is a prefix');
        const before = listing(m).length;
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', ...args, ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`resuming after page ${state.pages}: ${state.studies} studies already saved`));
        assert.match(r.stderr, new RegExp(`ct-fetch: 40 studies in 9 pages, ${state.studies} of them from the interrupted run \\(this run: ${9 - state.pages} requests?, 0 retries\\)`));
        // stdout repeats the saved studies, so a pipeline restarted with the fetch gets the whole set
        assert.equal(r.stdout, FIXTURE_TEXT);
        assert.equal(fs.readFileSync(tee, 'utf8'), FIXTURE_TEXT);
        assert.ok(!fs.existsSync(`${tee}.partial`) && !fs.existsSync(`${tee}.resume-src`));
        const resumed = listing(m).slice(before);
        assert.equal(resumed.length, 9 - state.pages, 'only the missing pages');
        assert.ok(resumed.every((q) => q.query.pageToken), 'continued with the saved token');
        const meta = JSON.parse(fs.readFileSync(`${tee}.meta.json`, 'utf8'));
        assert.equal(meta.status, 'complete');
        assert.equal(meta.records, 40);
        assert.equal(meta.fetch.next_page_token, null);
        assert.ok(!('input' in meta.options), 'ct-fetch reads no input: none in the options');
        assert.equal(meta.options['page-size'], 5);
      }));

    test('expired page tokens: restart from the first page, skipping what is saved', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('expired.ndjson');
        const args = ['--page-size', '5', '--condition', 'a'];
        const expected = await mockAnswer(m, { 'query.cond': 'a' });
        const { state } = await killedRun(m, tee, args, 2);
        m.expireAllTokens();
        const before = listing(m).length;
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', ...args, ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /page token rejected \(GET \/studies: HTTP 400: Invalid pageToken .*expired\); starting again from the first page/);
        assert.match(r.stderr, new RegExp(`${state.studies} already written, skipped`));
        assert.deepEqual(idsOf(r.stdout), expected);
        assert.deepEqual(idsOf(fs.readFileSync(tee, 'utf8')), expected);
        const resumed = listing(m).slice(before);
        assert.equal(resumed[0]!.status, 400);
        assert.equal(resumed[1]!.query.pageToken, undefined);
      }));

    test('Arrow checkpoint: kill + resume gives the same records', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('killed.arrow');
        const args = ['--page-size', '4', '--format', 'arrow'];
        await killedRun(m, tee, args, 3);
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', ...args, ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        const back: unknown[] = [];
        for await (const item of await openInput(tee)) back.push(item.value);
        assert.deepEqual(back, STUDIES);
      }));

    test('--resume with other filters is refused and the checkpoint kept', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('other.ndjson');
        await killedRun(m, tee, ['--page-size', '5'], 1);
        const partial = fs.readFileSync(`${tee}.partial`);
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', '--page-size', '5', '--status', 'COMPLETED', ...FAST]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^ct-fetch: --resume: .*other\.ndjson\.partial was fetched with other filters \(\{\}, now \{"filter.overallStatus":"COMPLETED"\}\)/m);
        assert.deepEqual(fs.readFileSync(`${tee}.partial`), partial);
      }));

    test('--resume on a fresh run starts from the first page and says nothing about resuming', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('fresh.ndjson');
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /resum/);
        assert.equal(fs.readFileSync(tee, 'utf8'), FIXTURE_TEXT);
      }));

    test('--resume with a .partial that never completed a page says so and starts from the first page', () =>
      withMock({}, async (m) => {
        const tee = tmpFile('early.ndjson');
        fs.writeFileSync(`${tee}.partial`, '');
        const r = await run(['--base-url', m.url, '--tee', tee, '--resume', ...FAST]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /nothing to resume in .*early\.ndjson\.partial \(no page completed\); starting from the first page/);
        assert.equal(fs.readFileSync(tee, 'utf8'), FIXTURE_TEXT);
      }));
  });
});
