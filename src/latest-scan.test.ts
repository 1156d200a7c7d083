import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openInput } from './io/input.js';
import { stringifyRecord } from './io/rawjson.js';
import { dateNumber, LatestSlots, planLatest, scanLine } from './latest-scan.js';
import { prepareInput, type PrepareOptions, type PrepareStats } from './prepare.js';

const fixture = new URL('../../test/fixtures/prepare-mixed.ndjson', import.meta.url);
const studies = readFileSync(fixture, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
const idOf = (s: Record<string, any>) => s.protocolSection.identificationModule.nctId as string;

function version(s: Record<string, any>, updated: string | undefined, status: string) {
  const v = structuredClone(s);
  if (updated === undefined) delete v.protocolSection.statusModule.lastUpdatePostDateStruct;
  else v.protocolSection.statusModule.lastUpdatePostDateStruct = { date: updated, type: 'ACTUAL' };
  v.protocolSection.statusModule.overallStatus = status;
  return v;
}

const newStats = (): PrepareStats => ({ read: 0, studies: 0, out: 0, rejected: 0, duplicates: 0, noStartDate: 0, beforeStartYear: 0, skipped: 0, nulCleaned: 0 });

/** ct-prepare over `text` as a regular file (two passes) and as a pipe (the spool): output lines, rejects, stats. */
async function both(text: string, opts: Partial<PrepareOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ct-latest-'));
  try {
    const path = join(dir, 'in.ndjson');
    writeFileSync(path, text);
    const run = async (file: boolean) => {
      const stats = newStats();
      const rejects: string[] = [];
      const input = file ? await openInput(path) : await openInput('-', Readable.from([Buffer.from(text)]));
      const { records } = await prepareInput(input, { reject: (i, r) => rejects.push(`${i.line} ${r}`), spoolDir: dir, ...opts }, stats);
      const out: string[] = [];
      for await (const r of records) out.push(stringifyRecord(r as never));
      return { out, rejects, stats };
    };
    return { file: await run(true), pipe: await run(false), path };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('scanLine finds the id and the last update date as JSON text, whatever the spacing, and doubts what it cannot vouch for', () => {
  const s = studies[0];
  const line = (v: unknown, space?: number) => Buffer.from(JSON.stringify(v, null, space).replace(/\n\s*/g, ' '));
  assert.deepEqual(scanLine(line(version(s, '2024-03-05', 'X'))), { kind: 'study', id: idOf(s), date: 20240305 });
  // Python's json.dumps spacing (`"key": value`), and the month-only date form.
  assert.deepEqual(scanLine(line(version(s, '2024-03', 'X'), 1)), { kind: 'study', id: idOf(s), date: 20240300 });
  assert.deepEqual(scanLine(line(version(s, undefined, 'X'))), { kind: 'study', id: idOf(s), date: -1 });
  // A study with another nctId key before its identification module (expandedAccessInfo) is still its own id.
  const ea = { protocolSection: { statusModule: { expandedAccessInfo: { nctId: 'NCT99999999' }, lastUpdatePostDateStruct: { date: '2020-01-01' } }, identificationModule: { nctId: 'NCT00000001' } } };
  assert.deepEqual(scanLine(line(ea)), { kind: 'study', id: 'NCT00000001', date: 20200101 });
  // Key names inside string values are not keys.
  const quoted = { protocolSection: { identificationModule: { briefTitle: '"nctId":"NCT1" "identificationModule": {', nctId: 'NCT00000002' } } };
  assert.deepEqual(scanLine(line(quoted)), { kind: 'study', id: 'NCT00000002', date: -1 });
  assert.deepEqual(scanLine(Buffer.from('\ufeff  ' + JSON.stringify(ea) + '\r')), { kind: 'study', id: 'NCT00000001', date: 20200101 });
  assert.equal(scanLine(line({ studies: [s] })).kind, 'unsure'); // an API page
  assert.equal(scanLine(line([s])).kind, 'unsure'); // an array of studies
  assert.equal(scanLine(Buffer.from('{"protocolSection":{"identificationModule":{"nctId":"NCT\\u0030001"}}}')).kind, 'unsure');
  assert.equal(scanLine(line(version(s, 'yesterday', 'X'))).kind, 'unsure');
  assert.equal(scanLine(Buffer.from('not json')).kind, 'other');
  assert.equal(scanLine(Buffer.from('{"a":1}')).kind, 'other');
  assert.equal(scanLine(Buffer.from(' \r')).kind, 'blank');
  assert.ok(dateNumber('2024-01')! < dateNumber('2024-01-01')!);
});

test('two passes over a file give the spool\'s records, rejects and counts: duplicates, bad lines, blank lines, CRLF, BOM', async () => {
  const [a, b, c] = studies;
  const lines = [
    '\ufeff' + JSON.stringify(version(a, '2020-01-01', 'A1')),
    JSON.stringify(version(b, '2021-01-01', 'B1')) + '\r',
    '',
    JSON.stringify(version(a, '2022-01-01', 'A2')), // newer: wins, at A's first place
    '{"broken": ',
    JSON.stringify(version(b, '2019-01-01', 'B0')), // older: dropped
    JSON.stringify(version(c, undefined, 'C1')),
    JSON.stringify(version(c, undefined, 'C2')), // same (no) date: the first stays
    JSON.stringify(version(b, '2021-01-01', 'B1bis')), // equal date: the first stays
    '7',
    JSON.stringify(version(a, '2022-01', 'A-month')), // 2022-01 sorts before 2022-01-01: older
  ];
  const { file, pipe } = await both(lines.join('\n') + '\n');
  assert.deepEqual(file.out.map((l) => JSON.parse(l).status), ['A2', 'B1', 'C1']);
  assert.deepEqual(file.out, pipe.out);
  assert.deepEqual(file.rejects, pipe.rejects);
  assert.deepEqual(file.stats, pipe.stats);
  assert.equal(file.stats.duplicates, 5);
  assert.equal(file.stats.rejected, 2);
});

test('two passes: filters and --limit see each study\'s latest version', async () => {
  const [a, b] = studies;
  const old = { ...version(a, '2020-01-01', 'OLD') };
  old.protocolSection.statusModule.startDateStruct = { date: '2001-01' };
  const moved = version(a, '2024-01-01', 'MOVED');
  moved.protocolSection.statusModule.startDateStruct = { date: '2016-05' };
  const bb = version(b, '2020-01-01', 'B');
  bb.protocolSection.statusModule.startDateStruct = { date: '2017-01' };
  const text = [old, bb, moved].map((s) => JSON.stringify(s)).join('\n') + '\n';
  const { file, pipe } = await both(text, { startYear: 2015 });
  assert.deepEqual(file.out.map((l) => JSON.parse(l).status).sort(), pipe.out.map((l) => JSON.parse(l).status).sort());
  assert.deepEqual(file.out.map((l) => JSON.parse(l).status), ['MOVED', 'B']); // first-seen order
  // Only latest versions are filtered, so the counts add up (the spool also counts the superseded OLD as before 2015).
  const st = file.stats;
  assert.equal(st.studies, st.out + st.duplicates + st.rejected + st.beforeStartYear + st.noStartDate + st.skipped);
  assert.deepEqual({ ...file.stats, beforeStartYear: 0 }, { ...pipe.stats, beforeStartYear: 0 });
  assert.equal(st.beforeStartYear, 0);
  const limited = await both(text, { limit: 1 });
  assert.deepEqual(limited.file.out.map((l) => JSON.parse(l).status), ['MOVED']);
});

test('a file with a page or an array on a line goes through the spool; the output is the same', async () => {
  const [a, b] = studies;
  const text = JSON.stringify(version(a, '2020-01-01', 'A1')) + '\n' + JSON.stringify({ studies: [version(b, '2020-01-01', 'B'), version(a, '2021-01-01', 'A2')] }) + '\n';
  const dir = mkdtempSync(join(tmpdir(), 'ct-latest-'));
  try {
    writeFileSync(join(dir, 'p.ndjson'), text);
    assert.equal(await planLatest(join(dir, 'p.ndjson'), 'p.ndjson'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { file, pipe } = await both(text);
  assert.deepEqual(file.out.map((l) => JSON.parse(l).status), ['A2', 'B']);
  assert.deepEqual(file.out, pipe.out);
});

test('a file changed between the two passes stops the run, naming the line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-latest-'));
  try {
    const path = join(dir, 'in.ndjson');
    const [a, b] = studies;
    writeFileSync(path, JSON.stringify(version(a, '2020-01-01', 'A')) + '\n' + JSON.stringify(version(b, '2020-01-01', 'B')) + '\n');
    const plan = (await planLatest(path, 'in.ndjson'))!;
    writeFileSync(path, JSON.stringify(version(b, '2020-01-01', 'B')) + '\n' + JSON.stringify(version(a, '2020-01-01', 'A')) + '\n');
    await assert.rejects(async () => {
      for await (const _ of plan.items());
    }, /^RuntimeError: in\.ndjson:1: the file changed while it was read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lines longer than the read buffer are scanned whole', async () => {
  const [a, b] = studies;
  const big = version(a, '2020-01-01', 'BIG');
  big.protocolSection.descriptionModule = { briefSummary: 'x'.repeat(20 << 20) };
  const text = [JSON.stringify(big), JSON.stringify(version(b, '2020-01-01', 'B')), JSON.stringify(version(a, '2021-01-01', 'A2'))].join('\n');
  const { file, pipe } = await both(text);
  assert.deepEqual(file.out.map((l) => JSON.parse(l).status), ['A2', 'B']);
  assert.deepEqual(file.stats, pipe.stats);
});

test('LatestSlots: finds every id it was given (NCT numbers, other ids, none) through growth and rehashing, as a Map would', () => {
  const slots = new LatestSlots();
  const model = new Map<string, number>();
  const ids: Array<string | undefined> = [];
  let lastOff = 0;
  let x = 12345;
  for (let i = 0; i < 50_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = x % 100;
    const id = r < 3 ? undefined : r < 6 ? `other-${x % 997}` : `NCT${String(x % 40_000_000).padStart(8, '0')}`;
    if (id !== undefined && model.has(id)) {
      assert.equal(slots.find(id), model.get(id), id);
      continue;
    }
    assert.equal(id === undefined ? -1 : slots.find(id), -1, `${id} is new`);
    slots.add(id, (lastOff = i * 100_003), i % 1000, i + 1, 20240000 + (i % 28));
    if (id !== undefined) model.set(id, slots.count - 1);
    ids.push(id);
  }
  assert.equal(slots.count, ids.length);
  for (const [id, slot] of model) assert.equal(slots.find(id), slot, id);
  ids.forEach((id, slot) => assert.equal(slots.id(slot), id, `slot ${slot}`));
  assert.equal(slots.find('NCT00000000'), model.get('NCT00000000') ?? -1);
  assert.equal(slots.find('NCT1234567'), -1, 'seven digits: another form, never seen');
  const last = ids.length - 1;
  assert.equal(slots.off[last], lastOff, 'file offsets beyond 4 GB are kept exactly');
  assert.ok(lastOff > 2 ** 32);
});
