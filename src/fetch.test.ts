import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RuntimeError, UsageError } from './io/errors.js';
import { RecordWriter } from './io/output.js';
import { RawJson } from './io/rawjson.js';
import { fetchStudies, freshStart, listParams, nctIdOf, sameParams, type PagingState, type StartPoint } from './fetch.js';
import { BadRequest, StudiesClient, type Study } from './fetch/client.js';
import { dropResumeSource, findResume, replaySaved } from './fetch/resume.js';
import { StudyIdSet } from './util/study-ids.js';
import { loadStudies, startCtgovMock, type CtgovMock } from '../test/mocks/ctgov-mock.js';

const idSet = (list: string[]) => {
  const set = new StudyIdSet();
  for (const id of list) set.add(id);
  return set;
};

// compiled to dist/src/fetch.test.js -> ../../ is the project root
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/studies-sample.ndjson', import.meta.url));
const STUDIES = loadStudies(FIXTURE) as Study[];
const ids = (list: Array<Study | RawJson>) => list.map((s) => nctIdOf(s instanceof RawJson ? (JSON.parse(s.json) as Study) : s));

const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof StudiesClient>[0]> = {}) =>
  new StudiesClient({ baseUrl, rate: 0, timeoutMs: 2000, maxRetries: 8, retryDelayMs: 1, ...extra });

/** An in-memory sink that checks each checkpoint counts exactly the studies written before it (+ saved ones). */
function memorySink(saved = 0) {
  const written: Study[] = [];
  const checkpoints: PagingState[] = [];
  return {
    written,
    checkpoints,
    sink: {
      write: async (s: Study) => void written.push(s),
      checkpoint: async (st: PagingState) => {
        assert.equal(st.studies, saved + written.length);
        checkpoints.push(st);
      },
    },
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-fetch-unit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('listParams', () => {
  test('maps every filter to the API parameter', () => {
    assert.deepEqual(
      listParams({
        query: 'heart',
        condition: 'asthma',
        intervention: 'aspirin',
        status: ['RECRUITING', 'COMPLETED'],
        startYear: 2014,
        updatedSince: '2025-01-01',
        advanced: 'AREA[CompletionDate]RANGE[MIN,2020] OR AREA[CompletionDate]RANGE[2030,MAX]',
        fields: ['NCTId', 'BriefTitle'],
      }),
      {
        'query.term': 'heart',
        'query.cond': 'asthma',
        'query.intr': 'aspirin',
        'filter.overallStatus': 'RECRUITING,COMPLETED',
        'filter.advanced':
          'AREA[StartDate]RANGE[2014-01-01,MAX] AND AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX] AND ' +
          '(AREA[CompletionDate]RANGE[MIN,2020] OR AREA[CompletionDate]RANGE[2030,MAX])',
        fields: 'NCTId,BriefTitle',
      },
    );
  });
  test('a lone --advanced goes through as is; no filters, no parameters', () => {
    assert.deepEqual(listParams({ advanced: 'AREA[StartDate]RANGE[2020,MAX]' }), { 'filter.advanced': 'AREA[StartDate]RANGE[2020,MAX]' });
    assert.deepEqual(listParams({ status: [] }), {});
  });
  test('sameParams ignores key order only', () => {
    assert.ok(sameParams({ a: '1', b: '2' }, { b: '2', a: '1' }));
    assert.ok(!sameParams({ a: '1' }, { a: '1', b: '2' }));
    assert.ok(!sameParams({ a: '1' }, { a: '2' }));
  });
});

/** A server that plays a script of answers, one per request, then repeats the last. */
async function scripted(answers: Array<(res: http.ServerResponse, req: http.IncomingMessage) => void>) {
  const seen: string[] = [];
  let i = 0;
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    answers[Math.min(i++, answers.length - 1)]!(res, req);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2`;
  return {
    url,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => (res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
};
const okPage = send(200, 'application/json', JSON.stringify({ studies: STUDIES.slice(0, 2), totalCount: 2 }));

describe('StudiesClient', () => {
  test('retries each kind of transient failure, then returns the page', async () => {
    const full = JSON.stringify({ studies: STUDIES.slice(0, 2) });
    const s = await scripted([
      send(503, 'text/html', '<html>down</html>'),
      send(429, 'text/plain', 'Too Many Requests', { 'retry-after': '0' }),
      send(403, 'text/html', '<html>no</html>'),
      send(200, 'text/html', '<!DOCTYPE html><html>maintenance</html>'),
      send(200, 'application/json', full.slice(0, full.length / 2)),
      (_res, req) => req.socket.destroy(),
      () => {}, // never answers: the timeout must end it
      okPage,
    ]);
    try {
      const retries: string[] = [];
      const c = client(s.url, { timeoutMs: 1500, onRetry: (r) => retries.push(r.reason) });
      const page = await c.list({ pageSize: '2' }, 1);
      assert.deepEqual(ids(page.studies), ids(STUDIES.slice(0, 2)));
      assert.equal(page.totalCount, 2);
      assert.equal(c.requests, 8);
      assert.equal(c.retries, 7);
      assert.match(retries[0]!, /HTTP 503/);
      assert.match(retries[3]!, /HTML page/);
      assert.match(retries[4]!, /incomplete JSON/);
      assert.match(retries[5]!, /network error/);
      assert.match(retries[6]!, /no complete answer within 1.5 s/);
      assert.match(s.seen[0]!, /^\/api\/v2\/studies\?pageSize=2$/);
    } finally {
      await s.close();
    }
  });

  test('honours Retry-After', async () => {
    const s = await scripted([send(429, 'text/plain', 'slow down', { 'retry-after': '1' }), okPage]);
    try {
      const delays: number[] = [];
      const c = client(s.url, { onRetry: (r) => delays.push(r.delayMs) });
      await c.list({}, 1);
      assert.deepEqual(delays, [1000]);
    } finally {
      await s.close();
    }
  });

  test('a 400 is not retried and carries the server message', async () => {
    const s = await scripted([send(400, 'text/plain', "`pageSize` must be an integer, got 'x'")]);
    try {
      const c = client(s.url);
      await assert.rejects(c.list({ pageSize: 'x' }, 1), (e: unknown) => {
        assert.ok(e instanceof BadRequest);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /HTTP 400: `pageSize` must be an integer, got 'x'/);
        return true;
      });
      assert.equal(c.requests, 1);
    } finally {
      await s.close();
    }
  });

  test('gives up after --max-retries, naming the page; other statuses fail at once', async () => {
    const s = await scripted([send(503, 'text/plain', 'busy')]);
    try {
      const c = client(s.url, { maxRetries: 2 });
      await assert.rejects(c.list({}, 7), /page 7: giving up after 3 attempts \(--max-retries 2\): HTTP 503/);
      assert.equal(c.requests, 3);
    } finally {
      await s.close();
    }
    const t = await scripted([send(404, 'text/plain', 'Not found: /api/v2/studies')]);
    try {
      const c = client(t.url);
      await assert.rejects(c.list({}, 1), (e: unknown) => e instanceof RuntimeError && /HTTP 404: Not found/.test(e.message));
      assert.equal(c.requests, 1);
    } finally {
      await t.close();
    }
  });
});

describe('fetchStudies against the mock', () => {
  let mock: CtgovMock;
  const withMock = async (fn: () => Promise<void>) => {
    mock = await startCtgovMock({ studies: STUDIES });
    try {
      await fn();
    } finally {
      await mock.close();
    }
  };

  for (const pageSize of [7, 40, 1000]) {
    test(`page size ${pageSize}: every study once, in order; countTotal on the first page only`, () =>
      withMock(async () => {
        const m = memorySink();
        const stats = await fetchStudies({ client: client(mock.url), pageSize, start: freshStart({}), sink: m.sink });
        assert.deepEqual(m.written, STUDIES);
        // 40 = 7·5 + 5 → 6 pages; an exactly full last page (40) leads to one more, empty page.
        assert.equal(stats.pages, { 7: 6, 40: 2, 1000: 1 }[pageSize]);
        assert.equal(mock.requests.filter((r) => r.query.countTotal === 'true').length, 1);
        assert.equal(mock.requests[0]!.query.countTotal, 'true');
        assert.equal(stats.state.total, 40);
        assert.equal(m.checkpoints.at(-1)!.next_page_token, null);
      }));
  }

  test('a limit asks for no more than it needs', () =>
    withMock(async () => {
      const m = memorySink();
      await fetchStudies({ client: client(mock.url), pageSize: 7, limit: 10, start: freshStart({}), sink: m.sink });
      assert.deepEqual(m.written, STUDIES.slice(0, 10));
      assert.deepEqual(mock.requests.map((r) => r.query.pageSize), ['7', '3']);
    }));

  test('a rejected page token restarts from the first page, skipping what was written', () =>
    withMock(async () => {
      // As if 12 studies (pages of 6) were saved, with a token the server no longer honours.
      const start: StartPoint = {
        state: { params: {}, pages: 2, studies: 12, next_page_token: 'eyJ2IjoxfQ', last_nct_id: null, total: 40 },
        seen: idSet(ids(STUDIES.slice(0, 12)) as string[]),
        anonymous: 0,
      };
      const m = memorySink(12);
      const logs: string[] = [];
      const stats = await fetchStudies({ client: client(mock.url), pageSize: 6, start, sink: m.sink, log: (l) => logs.push(l) });
      assert.deepEqual(m.written, STUDIES.slice(12));
      assert.equal(stats.restarts, 1);
      assert.equal(stats.skipped, 12);
      assert.match(logs[0]!, /page token rejected .*Invalid pageToken/);
      assert.equal(m.checkpoints.at(-1)!.studies, 40);
    }));

  test('without nct_ids (--fields) the restart skips by position', () =>
    withMock(async () => {
      const params = listParams({ fields: ['BriefTitle'] });
      const all = memorySink();
      await fetchStudies({ client: client(mock.url), pageSize: 1000, start: freshStart(params), sink: all.sink });
      assert.equal(all.written.length, 40);
      assert.equal(nctIdOf(all.written[0]!), undefined);
      const start: StartPoint = {
        state: { params, pages: 1, studies: 5, next_page_token: 'bad-token', last_nct_id: null, total: 40 },
        seen: new StudyIdSet(),
        anonymous: 5,
      };
      const m = memorySink(5);
      await fetchStudies({ client: client(mock.url), pageSize: 5, start, sink: m.sink });
      assert.deepEqual(m.written, all.written.slice(5));
    }));

  test('a 400 on a first page is the options’ fault: thrown as is', () =>
    withMock(async () => {
      const m = memorySink();
      await assert.rejects(
        fetchStudies({ client: client(mock.url), pageSize: 5, start: freshStart({ 'filter.overallStatus': 'NOPE' }), sink: m.sink }),
        (e: unknown) => e instanceof BadRequest && /invalid value 'NOPE'/.test(e.message),
      );
    }));

  test('a listing recorded as finished fetches nothing', async () => {
    const c = client('http://127.0.0.1:9/api/v2');
    const m = memorySink();
    const start: StartPoint = {
      state: { params: {}, pages: 3, studies: 0, next_page_token: null, last_nct_id: null, total: 0 },
      seen: new StudyIdSet(),
      anonymous: 0,
    };
    const stats = await fetchStudies({ client: c, pageSize: 5, start, sink: m.sink });
    assert.equal(c.requests, 0);
    assert.equal(stats.written, 0);
  });
});

describe('resume', () => {
  const state = (studies: number, params = {}): PagingState => ({
    params, pages: 2, studies, next_page_token: 'tok', last_nct_id: null, total: 40,
  });

  /** Write studies through the real RecordWriter, record a checkpoint, and abandon: like a killed run. */
  async function killedRun(tee: string, format: 'ndjson' | 'arrow', checkpointAt: number, more: number) {
    const devnull = fs.createWriteStream('/dev/null');
    const w = new RecordWriter({ tool: 'ct-fetch', version: '0', format, tee, options: {}, stdout: devnull });
    for (const s of STUDIES.slice(0, checkpointAt)) await w.write(s);
    await w.flush();
    w.setMeta({ fetch: state(checkpointAt) });
    for (const s of STUDIES.slice(checkpointAt, checkpointAt + more)) await w.write(s);
    await w.flush();
    w.abandon();
    devnull.destroy();
  }

  for (const format of ['ndjson', 'arrow'] as const) {
    test(`${format}: replays exactly the studies the checkpoint vouches for, despite a torn tail`, async () => {
      const tee = path.join(tmp, `torn.${format}`);
      await killedRun(tee, format, 10, 5);
      // tear the last record / batch in half
      const size = fs.statSync(`${tee}.partial`).size;
      fs.truncateSync(`${tee}.partial`, size - 3000);
      const src = findResume(tee, {}, 'ct-fetch')!;
      assert.ok(src);
      assert.ok(!fs.existsSync(`${tee}.partial`), 'moved aside');
      const replayed: Study[] = [];
      const start = await replaySaved(src, async (s) => void replayed.push(s));
      assert.deepEqual(replayed, STUDIES.slice(0, 10));
      assert.equal(start.seen.size, 10);
      assert.equal(start.state.next_page_token, 'tok');
      dropResumeSource(src);
      assert.ok(!fs.existsSync(src.path) && !fs.existsSync(src.metaPath));
    });
  }

  test('refuses other filters, and a checkpoint of another tool', async () => {
    const tee = path.join(tmp, 'other.ndjson');
    await killedRun(tee, 'ndjson', 3, 0);
    assert.throws(() => findResume(tee, { 'query.cond': 'asthma' }, 'ct-fetch'), (e: unknown) => e instanceof UsageError && /other filters/.test(e.message));
    assert.ok(fs.existsSync(`${tee}.partial`), 'left in place');
    assert.throws(() => findResume(tee, {}, 'ct-embed'), /written by ct-fetch, not ct-embed/);
  });

  test('nothing to resume: no partial, or no complete page yet', async () => {
    assert.equal(findResume(path.join(tmp, 'none.ndjson'), {}, 'ct-fetch'), undefined);
    const tee = path.join(tmp, 'early.ndjson');
    const w = new RecordWriter({ tool: 'ct-fetch', version: '0', format: 'ndjson', tee, options: {}, stdout: fs.createWriteStream('/dev/null') });
    w.abandon();
    assert.equal(findResume(tee, {}, 'ct-fetch'), undefined);
  });

  test('a partial holding fewer studies than its metadata says is refused', async () => {
    const tee = path.join(tmp, 'short.ndjson');
    await killedRun(tee, 'ndjson', 4, 0);
    const meta = JSON.parse(fs.readFileSync(`${tee}.partial.meta.json`, 'utf8'));
    meta.fetch.studies = 9;
    fs.writeFileSync(`${tee}.partial.meta.json`, JSON.stringify(meta));
    const src = findResume(tee, {}, 'ct-fetch')!;
    await assert.rejects(replaySaved(src, async () => {}), /holds 4 studies, but its metadata says 9/);
  });

  test('after a resumed run died too: the newer partial wins, else the moved-aside source', async () => {
    const tee = path.join(tmp, 'twice.ndjson');
    await killedRun(tee, 'ndjson', 6, 0);
    const first = findResume(tee, {}, 'ct-fetch')!;
    // the resumed run dies before its first checkpoint: its partial has no paging state
    const w = new RecordWriter({ tool: 'ct-fetch', version: '0', format: 'ndjson', tee, options: {}, stdout: fs.createWriteStream('/dev/null') });
    w.abandon();
    const again = findResume(tee, {}, 'ct-fetch')!;
    assert.equal(again.path, first.path);
    assert.equal(again.state.studies, 6);
    // … or after a checkpoint with more: that partial is taken
    await killedRun(tee, 'ndjson', 8, 0);
    const third = findResume(tee, {}, 'ct-fetch')!;
    assert.equal(third.state.studies, 8);
    const replayed: Study[] = [];
    await replaySaved(third, async (s) => void replayed.push(s));
    assert.deepEqual(replayed, STUDIES.slice(0, 8));
  });
});
