#!/usr/bin/env node
// Exhaustive check of src/io/f32json.ts (not a test: minutes of CPU; after `npx tsc -p .`): every float32
// with 2^-40 ≤ |x| < 2^30 (the fast path's range; the rest goes to the reference) written by float32Json
// must be the reference's text (float32Text): it reads back as the same float32, it has the digits of
// x.toPrecision(p) for its length p, and one digit fewer does not read back. float32Value must be its double.
// Positive values in full, negative ones sampled (the sign is only a prefix).
// Usage: node scripts/check-f32json.mjs [FIRST_EXPONENT LAST_EXPONENT] (biased, 87…156)
import { float32Json, float32Value } from '../dist/src/io/f32json.js';

const [lo, hi] = process.argv.length > 3 ? [Number(process.argv[2]), Number(process.argv[3])] : [87, 156];
const CHUNK = 1 << 20;
const f = new Float32Array(CHUNK);
const u = new Uint32Array(f.buffer);
let bad = 0;
let checked = 0;
const digitsOf = (s) => s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
function wrong(x, s) {
  const d = Number(s);
  if (Math.fround(d) !== x) return 'does not read back';
  if (float32Value(x) !== d) return `float32Value gives ${float32Value(x)}`;
  const p = Math.max(1, digitsOf(s));
  if (Number(x.toPrecision(p)) !== d) return `not the nearest of ${p} digits (${x.toPrecision(p)})`;
  if (String(d) !== s) return `not spelled as JavaScript spells ${d}`;
  if (p > 1 && Math.fround(Number(x.toPrecision(p - 1))) === x) return `${x.toPrecision(p - 1)} is shorter`;
  return '';
}
for (let exp = lo; exp <= hi; exp++) {
  for (let start = 0; start < 1 << 23; start += CHUNK) {
    for (let i = 0; i < CHUNK; i++) u[i] = ((exp << 23) | (start + i)) >>> 0;
    if (start === 0) for (let i = 0; i < CHUNK; i += 97) u[i] = (u[i] | 0x80000000) >>> 0;
    const texts = float32Json(f).slice(1, -1).split(',');
    for (let i = 0; i < CHUNK; i++) {
      const why = wrong(f[i], texts[i]);
      if (why && bad++ < 20) console.log(`0x${u[i].toString(16)}: ${texts[i]}: ${why}`);
    }
    checked += CHUNK;
  }
  process.stderr.write(`exponent ${exp}: ${checked.toLocaleString('en-US')} values checked, ${bad} wrong\n`);
}
console.log(bad ? `${bad} values wrong` : `all ${checked.toLocaleString('en-US')} values right`);
process.exitCode = bad ? 1 : 0;
