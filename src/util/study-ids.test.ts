import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StudyIdSet } from './study-ids.js';

test('StudyIdSet agrees with a Set<string> over NCT ids, other ids, repeats and growth', () => {
  const ids = new StudyIdSet();
  const ref = new Set<string>();
  let seed = 7;
  const rand = () => ((seed = Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = () => {
    const r = rand();
    if (r < 0.05) return `X-${Math.floor(rand() * 50)}`; // another form of id
    if (r < 0.08) return ['NCT00000000', 'NCT99999999', 'NCT0000000', 'nct00000001', 'NCT000000001'][Math.floor(rand() * 5)]!;
    return 'NCT' + String(Math.floor(rand() * 30_000)).padStart(8, '0');
  };
  for (let i = 0; i < 40_000; i++) {
    const id = pick();
    assert.equal(ids.has(id), ref.has(id), `has(${id})`);
    assert.equal(ids.add(id), !ref.has(id), `add(${id})`);
    ref.add(id);
    assert.equal(ids.has(id), true);
  }
  assert.equal(ids.size, ref.size);
  assert.ok(ref.size > 10_000, 'the table grew several times');
  // An id never added is absent, whatever its hash neighbours.
  for (let k = 30_000; k < 31_000; k++) assert.equal(ids.has('NCT' + String(k).padStart(8, '0')), false);
});
