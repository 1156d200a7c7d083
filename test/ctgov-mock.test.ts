import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStudies, startCtgovMock, type CtgovMock, type CtgovMockOptions, withCtgovMock } from './mocks/ctgov-mock.js';

// compiled to dist/test/ctgov-mock.test.js -> ../../ is the project root
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/studies-sample.ndjson', import.meta.url));
const MOCK_JS = fileURLToPath(new URL('./mocks/ctgov-mock.js', import.meta.url));
const STUDIES = loadStudies(FIXTURE);

type AnyStudy = {
  protocolSection: {
    identificationModule: { nctId: string };
    statusModule: {
      overallStatus: string;
      startDateStruct?: { date: string };
      lastUpdatePostDateStruct?: { date: string };
    };
    conditionsModule?: { conditions?: string[]; keywords?: string[] };
    armsInterventionsModule?: { interventions?: Array<{ name: string }> };
  };
};
type Page = { studies: AnyStudy[]; nextPageToken?: string; totalCount?: number };

const S = STUDIES as AnyStudy[];
const idOf = (s: AnyStudy) => s.protocolSection.identificationModule.nctId;
const sm = (s: AnyStudy) => s.protocolSection.statusModule;
const day = (d: string | undefined) => (d === undefined ? undefined : d.length === 7 ? `${d}-01` : d);

const withMock = <T>(opts: Partial<CtgovMockOptions>, fn: (m: CtgovMock) => Promise<T>): Promise<T> =>
  withCtgovMock({ studies: STUDIES, ...opts }, fn);

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

async function getPage(m: CtgovMock, params: Record<string, string | number | boolean | undefined>): Promise<Page> {
  const r = await fetch(`${m.url}/studies${qs(params)}`);
  const text = await r.text();
  assert.equal(r.status, 200, text.slice(0, 300));
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return JSON.parse(text) as Page;
}

async function getError(m: CtgovMock, params: Record<string, string | number | boolean | undefined>, status = 400): Promise<string> {
  const r = await fetch(`${m.url}/studies${qs(params)}`);
  const text = await r.text();
  assert.equal(r.status, status, text);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return text;
}

/** Follow nextPageToken to the end; returns all pages. */
async function allPages(m: CtgovMock, params: Record<string, string | number | boolean | undefined>): Promise<Page[]> {
  const pages: Page[] = [];
  let token: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const p = await getPage(m, { ...params, pageToken: token });
    pages.push(p);
    token = p.nextPageToken;
    if (!token) return pages;
  }
  throw new Error('too many pages');
}

test('fixture is the first 40 studies, sorted by nctId', () => {
  assert.equal(STUDIES.length, 40);
  const ids = S.map(idOf);
  assert.deepEqual([...ids].sort(), ids);
});

test('pages through all studies in order, totalCount on the first page only', async () => {
  await withMock({}, async (m) => {
    const pages = await allPages(m, { pageSize: 7, countTotal: true });
    assert.equal(pages.length, 6); // 7*5=35, +5
    assert.equal(pages[0]!.totalCount, 40);
    for (const p of pages.slice(1)) assert.equal(p.totalCount, undefined);
    assert.deepEqual(pages.map((p) => p.studies.length), [7, 7, 7, 7, 7, 5]);
    assert.equal(pages.at(-1)!.nextPageToken, undefined);
    assert.deepEqual(pages.flatMap((p) => p.studies.map(idOf)), S.map(idOf));
    // the studies are returned unchanged
    assert.deepEqual(pages[0]!.studies[0], STUDIES[0]);
    // without countTotal no totalCount
    assert.equal((await getPage(m, {})).totalCount, undefined);
    assert.equal((await getPage(m, { countTotal: false })).totalCount, undefined);
    // the page size may vary between pages
    const p1 = await getPage(m, { pageSize: 3 });
    const p2 = await getPage(m, { pageSize: 20, pageToken: p1.nextPageToken, countTotal: true });
    assert.deepEqual(p2.studies.map(idOf), S.slice(3, 23).map(idOf));
    assert.equal(p2.totalCount, undefined);
  });
});

test('exact multiple of the page size ends with an empty page without token', async () => {
  await withMock({}, async (m) => {
    const pages = await allPages(m, { pageSize: 10 });
    assert.deepEqual(pages.map((p) => p.studies.length), [10, 10, 10, 10, 0]);
    for (const p of pages.slice(0, 4)) assert.equal(typeof p.nextPageToken, 'string');
    assert.equal(pages[4]!.nextPageToken, undefined);
    assert.deepEqual(pages[4]!.studies, []);
    const one = await allPages(m, { pageSize: 40 });
    assert.deepEqual(one.map((p) => p.studies.length), [40, 0]);
    const big = await allPages(m, { pageSize: 41 });
    assert.deepEqual(big.map((p) => p.studies.length), [40]);
  });
});

test('pageSize: default, coercion to maxPageSize, bad values give 400', async () => {
  await withMock({}, async (m) => {
    assert.equal((await getPage(m, {})).studies.length, 10);
    assert.equal((await getPage(m, { pageSize: 5000 })).studies.length, 40); // coerced to 1000
    for (const bad of ['0', '-1', 'abc', '2.5', '']) {
      const msg = await getError(m, { pageSize: bad });
      assert.match(msg, /pageSize/);
    }
  });
  await withMock({ maxPageSize: 15, defaultPageSize: 4 }, async (m) => {
    assert.equal((await getPage(m, {})).studies.length, 4);
    const pages = await allPages(m, { pageSize: 100 });
    assert.deepEqual(pages.map((p) => p.studies.length), [15, 15, 10]);
  });
});

test('a token used with different filter parameters gives 400', async () => {
  await withMock({}, async (m) => {
    const p1 = await getPage(m, { 'filter.overallStatus': 'COMPLETED', pageSize: 5 });
    assert.ok(p1.nextPageToken);
    const msg = await getError(m, { 'filter.overallStatus': 'RECRUITING', pageSize: 5, pageToken: p1.nextPageToken });
    assert.match(msg, /pageToken/);
    await getError(m, { pageSize: 5, pageToken: p1.nextPageToken }); // filter dropped
    await getError(m, { 'filter.overallStatus': 'COMPLETED', 'query.term': 'x', pageToken: p1.nextPageToken });
    // same filters, format=json added, other pageSize and countTotal: fine
    const p2 = await getPage(m, { 'filter.overallStatus': 'COMPLETED', format: 'json', pageSize: 2, countTotal: true, pageToken: p1.nextPageToken });
    assert.equal(p2.studies.length, 2);
    // garbage tokens
    await getError(m, { pageToken: 'not-a-token' });
    await getError(m, { pageToken: '***' });
  });
});

test('unknown parameters, bad filters and bad values give 400 text/plain naming the problem', async () => {
  await withMock({}, async (m) => {
    assert.match(await getError(m, { foo: '1' }), /foo/);
    assert.match(await getError(m, { 'query.recrs': 'COMPLETED' }), /query\.recrs/);
    assert.match(await getError(m, { 'filter.intervention': 'aspirin' }), /filter\.intervention/);
    assert.match(await getError(m, { sort: 'LastUpdatePostDate' }), /sort/);
    assert.match(await getError(m, { 'filter.overallStatus': 'COMPLETED,DONE' }), /DONE/);
    assert.match(await getError(m, { countTotal: 'yes' }), /countTotal/);
    assert.match(await getError(m, { format: 'xml' }), /format/);
    for (const bad of [
      'AREA[StartDate]RANGE[2014-01-01',
      'AREA[StartDate]RANGE[2014-01-01,MAX] AND',
      'AREA[StartDate]RANGE[2014-13-01,MAX]',
      'AREA[StartDate]RANGE[MAX,2014-01-01]',
      '(AREA[StartDate]RANGE[2014-01-01,MAX]',
      'AREA[Nonsense]RANGE[2014-01-01,MAX]',
      'StartDate > 2014',
      '',
    ]) {
      assert.match(await getError(m, { 'filter.advanced': bad }), /filter\.advanced/, bad);
    }
    // faults are not drawn for these, so every request is recorded with status 400
    assert.ok(m.requests.length > 0 && m.requests.every((r) => r.status === 400 && r.path === '/api/v2/studies'));
    assert.equal(m.requests[0]!.query.foo, '1');
  });
});

test('status, date, term, cond and intr filters match a direct computation', async () => {
  await withMock({}, async (m) => {
    const count = async (params: Record<string, string>) => {
      const pages = await allPages(m, { ...params, pageSize: 6, countTotal: true });
      const ids = pages.flatMap((p) => p.studies.map(idOf));
      assert.equal(pages[0]!.totalCount, ids.length);
      return ids;
    };
    const expect = (pred: (s: AnyStudy) => boolean) => S.filter(pred).map(idOf);

    const st = new Set(['COMPLETED', 'UNKNOWN']);
    assert.deepEqual(await count({ 'filter.overallStatus': 'COMPLETED,UNKNOWN' }), expect((s) => st.has(sm(s).overallStatus)));
    assert.deepEqual(await count({ 'filter.overallStatus': 'COMPLETED|UNKNOWN' }), expect((s) => st.has(sm(s).overallStatus)));
    assert.deepEqual(await count({ 'filter.overallStatus': 'RECRUITING' }), expect((s) => sm(s).overallStatus === 'RECRUITING'));
    assert.deepEqual(await count({ 'filter.overallStatus': 'AVAILABLE' }), []);

    // start dates are mostly YYYY-MM here: 2012-08 counts as 2012-08-01
    const startFrom = (d: string) => (s: AnyStudy) => (day(sm(s).startDateStruct?.date) ?? '') >= d && sm(s).startDateStruct !== undefined;
    for (const d of ['2012-01-01', '2012-08-01', '2012-08-02', '2013-09-30']) {
      const got = await count({ 'filter.advanced': `AREA[StartDate]RANGE[${d},MAX]` });
      assert.deepEqual(got, expect(startFrom(d)), d);
      assert.ok(got.length > 0 && got.length < 40, d);
    }
    const upd = (lo: string, hi: string) => (s: AnyStudy) => {
      const d = day(sm(s).lastUpdatePostDateStruct?.date);
      return d !== undefined && d >= lo && d <= hi;
    };
    assert.deepEqual(await count({ 'filter.advanced': 'AREA[LastUpdatePostDate]RANGE[2016-01-01,2018-12-31]' }), expect(upd('2016-01-01', '2018-12-31')));
    assert.deepEqual(await count({ 'filter.advanced': 'AREA[LastUpdatePostDate]RANGE[MIN,2010-01-01]' }), expect(upd('0000', '2010-01-01')));
    const both = await count({
      'filter.advanced': '(AREA[StartDate]RANGE[2010-01-01,MAX]) AND (AREA[LastUpdatePostDate]RANGE[2018-01-01,MAX])',
      'filter.overallStatus': 'COMPLETED',
    });
    assert.deepEqual(
      both,
      expect((s) => startFrom('2010-01-01')(s) && upd('2018-01-01', '9999')(s) && sm(s).overallStatus === 'COMPLETED'),
    );
    assert.ok(both.length > 0);

    const term = 'diskectomy';
    assert.deepEqual(await count({ 'query.term': 'DiskEctomy' }), expect((s) => JSON.stringify(s).toLowerCase().includes(term)));
    const condHit = (s: AnyStudy, n: string) =>
      [...(s.protocolSection.conditionsModule?.conditions ?? []), ...(s.protocolSection.conditionsModule?.keywords ?? [])].some((c) =>
        c.toLowerCase().includes(n),
      );
    const cond = await count({ 'query.cond': 'NSCLC' });
    assert.deepEqual(cond, expect((s) => condHit(s, 'nsclc')));
    assert.ok(cond.length >= 4);
    const intr = await count({ 'query.intr': 'discectomy' });
    assert.deepEqual(
      intr,
      expect((s) => (s.protocolSection.armsInterventionsModule?.interventions ?? []).some((i) => i.name.toLowerCase().includes('discectomy'))),
    );
    assert.ok(intr.length >= 1);
    // query.term in Essie syntax, as in the OpenAPI example
    assert.deepEqual(await count({ 'query.term': 'AREA[LastUpdatePostDate]RANGE[2020-01-01,MAX]' }), expect(upd('2020-01-01', '9999')));
  });
});

test('fields trims the studies', async () => {
  await withMock({}, async (m) => {
    const p = await getPage(m, { fields: 'NCTId,OverallStatus,LastUpdatePostDate', pageSize: 2 });
    assert.deepEqual(p.studies[0], {
      protocolSection: {
        identificationModule: { nctId: idOf(S[0]!) },
        statusModule: { overallStatus: sm(S[0]!).overallStatus, lastUpdatePostDateStruct: sm(S[0]!).lastUpdatePostDateStruct! },
      },
    });
    const q = await getPage(m, { fields: 'protocolSection.identificationModule|hasResults', pageSize: 1 });
    assert.deepEqual(Object.keys(q.studies[0]!).sort(), ['hasResults', 'protocolSection']);
  });
});

test('expired tokens give 400', async () => {
  await withMock({ tokenTtlMs: 60 }, async (m) => {
    const p1 = await getPage(m, { pageSize: 5 });
    const ok = await getPage(m, { pageSize: 5, pageToken: p1.nextPageToken });
    assert.equal(ok.studies.length, 5);
    await new Promise((r) => setTimeout(r, 120));
    assert.match(await getError(m, { pageSize: 5, pageToken: ok.nextPageToken }), /pageToken/);
  });
  await withMock({}, async (m) => {
    const p1 = await getPage(m, { pageSize: 5 });
    m.expireAllTokens();
    assert.match(await getError(m, { pageSize: 5, pageToken: p1.nextPageToken }), /pageToken/);
    const fresh = await getPage(m, { pageSize: 5 });
    assert.equal((await getPage(m, { pageSize: 5, pageToken: fresh.nextPageToken })).studies.length, 5);
  });
});

test('version and single-study endpoints', async () => {
  await withMock({}, async (m) => {
    const v = (await (await fetch(`${m.url}/version`)).json()) as { apiVersion: string; dataTimestamp: string };
    assert.equal(v.apiVersion, '2.0.5');
    assert.match(v.dataTimestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    const id = idOf(S[5]!);
    const r = await fetch(`${m.url}/studies/${id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), STUDIES[5]);
    const nf = await fetch(`${m.url}/studies/NCT99999999`);
    assert.equal(nf.status, 404);
    await nf.text();
    const bad = await fetch(`${m.url}/studies/XYZ`);
    assert.equal(bad.status, 400);
    await bad.text();
    const other = await fetch(`${m.url.replace(/\/api\/v2$/, '')}/nothing`);
    assert.equal(other.status, 404);
    await other.text();
  });
});

type Outcome = number | 'reset' | 'html' | 'truncated' | 'ok';

async function probe(m: CtgovMock, n: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < n; i++) {
    let r: Response;
    try {
      r = await fetch(`${m.url}/studies?pageSize=2`);
    } catch {
      out.push('reset');
      continue;
    }
    const text = await r.text();
    if (r.status !== 200) {
      if (r.status === 429) assert.equal(r.headers.get('retry-after'), '0');
      out.push(r.status);
    } else if (/^text\/html/.test(r.headers.get('content-type') ?? '')) {
      assert.match(text, /<html/i);
      out.push('html');
    } else {
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      try {
        JSON.parse(text);
        out.push('ok');
      } catch {
        out.push('truncated');
      }
    }
  }
  return out;
}

test('faults occur at about the configured rate, repeatably with a fixed seed', async () => {
  const faults = { rate429: 0.1, retryAfterSeconds: 0, rate503: 0.1, rate403: 0.05, rateHtml200: 0.05, rateTruncated: 0.05, rateReset: 0.05 };
  const N = 600;
  const a = await withMock({ faults, seed: 42 }, async (m) => {
    const outcomes = await probe(m, N);
    // recorded, in order, with the status (0 for reset, 200 for html/truncated)
    assert.equal(m.requests.length, N);
    const expectStatus = outcomes.map((o) => (o === 'reset' ? 0 : typeof o === 'number' ? o : 200));
    assert.deepEqual(
      m.requests.map((r) => r.status),
      expectStatus,
    );
    // version and single study are never faulted
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${m.url}/version`);
      assert.equal(r.status, 200);
      await r.text();
    }
    return outcomes;
  });
  const tally = (o: Outcome[], k: Outcome) => o.filter((x) => x === k).length / o.length;
  const near = (got: number, want: number) => assert.ok(Math.abs(got - want) < 0.04, `rate ${got} vs ${want}`);
  near(tally(a, 429), 0.1);
  near(tally(a, 503), 0.1);
  near(tally(a, 403), 0.05);
  near(tally(a, 'html'), 0.05);
  near(tally(a, 'truncated'), 0.05);
  near(tally(a, 'reset'), 0.05);
  near(tally(a, 'ok'), 0.6);
  const b = await withMock({ faults, seed: 42 }, (m) => probe(m, N));
  assert.deepEqual(b, a);
  const c = await withMock({ faults, seed: 7 }, (m) => probe(m, N));
  assert.notDeepEqual(c, a);

  // setFaults switches them off (and on)
  await withMock({ faults: { rate503: 1 } }, async (m) => {
    assert.deepEqual(await probe(m, 3), [503, 503, 503]);
    m.setFaults({});
    assert.deepEqual(await probe(m, 3), ['ok', 'ok', 'ok']);
    m.setFaults({ rate429: 1, retryAfterSeconds: 0 });
    assert.deepEqual(await probe(m, 2), [429, 429]);
  });
});

test('slow answers arrive after slowMs', async () => {
  await withMock({ faults: { rateSlow: 1, slowMs: 150 } }, async (m) => {
    const t0 = Date.now();
    const p = await getPage(m, { pageSize: 3 });
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(p.studies.length, 3);
  });
});

test('close() is quick with keep-alive sockets and pending slow answers', async () => {
  const m = await startCtgovMock({ studies: STUDIES, faults: { rateSlow: 0 } });
  for (let i = 0; i < 3; i++) await getPage(m, {}); // keep-alive connection stays open
  m.setFaults({ rateSlow: 1, slowMs: 30_000 });
  const pending = fetch(`${m.url}/studies`).then(
    (r) => r.status,
    () => 'error',
  );
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await m.close();
  assert.ok(Date.now() - t0 < 500, `close took ${Date.now() - t0} ms`);
  assert.equal(await pending, 'error');
});

test('standalone mode prints one line, writes the port file and exits 0 on SIGTERM', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctgov-mock-'));
  const portFile = path.join(dir, 'port');
  try {
    const child = spawn(process.execPath, [MOCK_JS, '--port', '0', '--port-file', portFile, '--data', FIXTURE, '--seed', '3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 200 && !stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 25));
    const m = /^ctgov-mock listening on (http:\/\/127\.0\.0\.1:(\d+)\/api\/v2)\n$/.exec(stdout);
    assert.ok(m, `stdout: ${JSON.stringify(stdout)} stderr: ${stderr}`);
    assert.equal(fs.readFileSync(portFile, 'utf8').trim(), m[2]);
    const r = await fetch(`${m[1]}/studies?pageSize=40&countTotal=true`);
    const page = (await r.json()) as Page;
    assert.equal(page.totalCount, 40);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(stdout.split('\n').filter(Boolean).length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
