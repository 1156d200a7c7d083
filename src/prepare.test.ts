import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PREPARED_FIELDS, buildText, normalizeSpace, prepareStream, prepareStudy, sha256, stripNul, unescapeCommonMark, type PrepareStats } from './prepare.js';
import type { InputItem } from './io/input.js';

const fixture = new URL('../../test/fixtures/prepare-mixed.ndjson', import.meta.url);
const studies = readFileSync(fixture, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

test('prepareStudy maps the API fields, in order, never undefined', () => {
  const rec = prepareStudy(studies[0]);
  assert.deepEqual(Object.keys(rec), [...PREPARED_FIELDS, 'raw']);
  for (const [k, v] of Object.entries(rec)) assert.notEqual(v, undefined, k);
  assert.equal(rec.nct_id, 'NCT00000410');
  assert.equal(rec.title, 'Spine Patient Outcomes Research Trial (SPORT) - Intervertebral Disc Herniation');
  assert.equal(rec.acronym, 'SPORT');
  assert.equal(rec.status, 'COMPLETED');
  assert.deepEqual(rec.phases, ['PHASE4']);
  assert.deepEqual(rec.interventions, [
    { type: 'PROCEDURE', name: 'Diskectomy' },
    { type: 'PROCEDURE', name: 'Non-surgical treatments' },
  ]);
  assert.equal(rec.sponsor, 'Dartmouth-Hitchcock Medical Center');
  assert.equal(rec.collaborators.length, 3);
  assert.equal(rec.start_date, '2000-03');
  assert.equal(rec.last_update_posted, '2015-08-04');
  assert.equal(rec.enrollment, 501);
  assert.equal(rec.has_results, false);
  assert.equal(rec.maximum_age, null);
  assert.equal(rec.healthy_volunteers, false);
  assert.deepEqual(rec.countries, ['United States']);
  assert.equal(rec.location_count, 13);
  assert.equal(rec.url, 'https://clinicaltrials.gov/study/NCT00000410');
  assert.equal(rec.content_hash, sha256(rec.text));
  assert.equal(rec.raw, studies[0]);
  assert.equal('raw' in prepareStudy(studies[0], { raw: false }), false);
});

test('every fixture study maps; arrays are arrays and countries are distinct and sorted', () => {
  for (const s of studies) {
    const r = prepareStudy(s);
    for (const k of ['phases', 'conditions', 'keywords', 'interventions', 'collaborators', 'countries'] as const) {
      assert.ok(Array.isArray(r[k]), `${r.nct_id} ${k}`);
    }
    assert.deepEqual(r.countries, [...new Set(r.countries)].sort());
    assert.ok(r.text.startsWith('Title: '), r.nct_id);
    assert.ok(!/\s{2,}/.test(r.text.replace(/\n/g, '|')), `${r.nct_id}: whitespace not normalised`);
  }
});

test('a study without optional modules gives nulls and empty arrays', () => {
  const r = prepareStudy({ protocolSection: { identificationModule: { nctId: 'NCT1' } } });
  assert.equal(r.title, null);
  assert.deepEqual(r.phases, []);
  assert.deepEqual(r.interventions, []);
  assert.equal(r.enrollment, null);
  assert.equal(r.location_count, 0);
  assert.equal(r.text, '');
});

test('text: labelled, CommonMark escapes removed, deterministic', () => {
  assert.equal(unescapeCommonMark('age \\>= 18 \\* and \\_x\\_ but \\a stays'), 'age >= 18 * and _x_ but \\a stays');
  const base = prepareStudy(studies[0]);
  const text = buildText({ ...base, eligibility_criteria: 'Age \\>= 18\n\n* ok', brief_summary: '  a \n b ' });
  assert.match(text, /^Title: .*\n/);
  assert.match(text, /\nSummary: a b\n/);
  assert.match(text, /\nEligibility: Age >= 18 \* ok$/);
  assert.match(text, /\nPhases: Phase 4\n/);
  assert.match(text, /\nInterventions: Procedure: Diskectomy; Procedure: Non-surgical treatments\n/);
  assert.equal(buildText(base), text.replace(/[^]*/, buildText(base)));
});

test('stripNul removes NUL characters everywhere and counts them', () => {
  const { value, removed } = stripNul({ a: 'x\u0000y', b: ['\u0000'], c: { 'k\u0000': 1 } });
  assert.deepEqual(value, { a: 'xy', b: [''], c: { k: 1 } });
  assert.equal(removed, 3);
});

async function run(values: unknown[], opts: Partial<Parameters<typeof prepareStream>[1]> = {}) {
  const stats: PrepareStats = { read: 0, studies: 0, out: 0, rejected: 0, duplicates: 0, noStartDate: 0, beforeStartYear: 0, skipped: 0, nulCleaned: 0 };
  const rejects: string[] = [];
  async function* items(): AsyncGenerator<InputItem> {
    let line = 0;
    for (const value of values) yield { where: `t:${++line}`, line, value };
  }
  const out = [];
  for await (const r of prepareStream(items(), { reject: (i, reason) => rejects.push(`${i.where} ${reason}`), ...opts }, stats)) out.push(r);
  return { out, stats, rejects };
}

test('dedupe keeps the latest version in first-seen order; --limit counts kept studies', async () => {
  const a = structuredClone(studies[0]);
  const a2 = structuredClone(studies[0]);
  a2.protocolSection.statusModule.lastUpdatePostDateStruct.date = '2099-01-01';
  a2.protocolSection.statusModule.overallStatus = 'LATEST';
  const { out, stats } = await run([a, studies[1], a2, a]);
  assert.deepEqual(out.map((r) => [r.nct_id, r.status]), [[a.protocolSection.identificationModule.nctId, 'LATEST'], [studies[1].protocolSection.identificationModule.nctId, studies[1].protocolSection.statusModule.overallStatus]]);
  assert.equal(stats.duplicates, 2);
  const first = await run([a, studies[1], a2], { dedupe: 'first' });
  assert.equal(first.out[0].status, a.protocolSection.statusModule.overallStatus);
  const none = await run([a, a2], { dedupe: 'none' });
  assert.equal(none.out.length, 2);
  const limited = await run(studies, { limit: 3, startYear: 2015 });
  assert.equal(limited.out.length, 3);
  assert.ok(limited.out.every((r) => Number(r.start_date!.slice(0, 4)) >= 2015));
});

test('bad records are rejected with their position; the keep hook drops and counts', async () => {
  const { out, rejects, stats } = await run([studies[0], 7, { protocolSection: {} }, [studies[1]]], { keep: (r) => r.nct_id !== studies[1].protocolSection.identificationModule.nctId });
  assert.deepEqual(rejects, ['t:2 not a study object (got number)', 't:3 missing protocolSection.identificationModule.nctId']);
  assert.equal(out.length, 1);
  assert.equal(stats.skipped, 1);
});

test('dedupe latest: the latest version decides, also when an earlier one was filtered out (--start-year, --skip-existing)', async () => {
  const id = studies[0].protocolSection.identificationModule.nctId as string;
  const version = (start: string, updated: string, status: string) => {
    const s = structuredClone(studies[0]);
    s.protocolSection.statusModule.startDateStruct = { date: start };
    s.protocolSection.statusModule.lastUpdatePostDateStruct.date = updated;
    s.protocolSection.statusModule.overallStatus = status;
    return s;
  };
  const old = version('2010-01', '2020-01-01', 'OLD');
  const moved = version('2016-05', '2024-01-01', 'MOVED'); // the start date was corrected upstream
  // First seen filtered out, a later, newer version passes: it is output (was dropped).
  const a = await run([old, studies[1], moved], { startYear: 2015 });
  assert.deepEqual(a.out.map((r) => [r.nct_id, r.status]).filter(([i]) => i === id), [[id, 'MOVED']]);
  // An older duplicate after a filtered-out newer one is not taken for the study.
  const b = await run([moved, version('2016-05', '2019-01-01', 'OLDER')], { keep: (r) => r.status !== 'MOVED' });
  assert.deepEqual(b.out, []);
  // The newest version filtered out drops the study, even though an older one passed.
  const c = await run([moved, studies[1], version('2010-01', '2025-01-01', 'BACK')], { startYear: 2015 });
  assert.ok(!c.out.some((r) => r.nct_id === id), 'the newest version starts before 2015');
  // --skip-existing (a keep filter) on the first version only.
  const d = await run([old, moved], { keep: (r) => r.status !== 'OLD' });
  assert.deepEqual(d.out.map((r) => r.status), ['MOVED']);
  assert.equal(d.stats.out, 1);
});

test('normalizeSpace: what s.replace(/\\s+/g, " ").trim() gives, over random mixes of spaces, tabs, newlines and Unicode spaces', () => {
  const alphabet = ['a', 'b', ' ', ' ', '\t', '\n', '\r', '\u00a0', '\u2003', '\u3000', '\ufeff', 'é'];
  let x = 7;
  for (let i = 0; i < 5000; i++) {
    let str = '';
    const n = i % 40;
    for (let j = 0; j < n; j++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      str += alphabet[x % alphabet.length];
    }
    assert.equal(normalizeSpace(str), str.replace(/\s+/g, ' ').trim(), JSON.stringify(str));
  }
});
