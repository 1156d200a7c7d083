import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashProvider, hashVector } from './hash.js';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('deterministic and unit length', () => {
  const a = hashVector('Asthma in children: inhaled corticosteroids', 1536);
  assert.deepEqual(a, hashVector('Asthma in children: inhaled corticosteroids', 1536));
  assert.ok(Math.abs(norm(a) - 1) < 1e-6);
  assert.ok(Math.abs(norm(hashVector('!!!', 64)) - 1) < 1e-6);
});

test('case and punctuation do not matter; shared words raise similarity', () => {
  const a = hashVector('Asthma in children', 256);
  assert.deepEqual(a, hashVector('ASTHMA, in children!', 256));
  const near = dot(a, hashVector('asthma in adults', 256));
  const far = dot(a, hashVector('knee replacement surgery', 256));
  assert.ok(near > far + 0.2, `near ${near} far ${far}`);
});

test('provider returns one vector per text of the requested size', async () => {
  const p = hashProvider(32);
  const vs = await p.embed(['a', 'b c']);
  assert.equal(vs.length, 2);
  assert.equal(vs[1]!.length, 32);
  assert.equal(p.remote, false);
});

test('earlier words weigh more and repetition is sub-linear', () => {
  const title = hashVector('Afatinib in NSCLC', 512);
  const filler = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
  const early = dot(title, hashVector(`Afatinib in NSCLC ${filler}`, 512));
  const late = dot(title, hashVector(`${filler} Afatinib in NSCLC`, 512));
  assert.ok(early > late * 1.5, `early ${early} late ${late}`);
  const once = dot(hashVector('asthma', 512), hashVector('asthma knee', 512));
  const many = dot(hashVector('asthma', 512), hashVector('asthma '.repeat(16) + 'knee', 512));
  assert.ok(many < 0.99, `16 repetitions do not make the text all asthma (${many}; once ${once})`);
});
