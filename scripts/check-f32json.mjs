#!/usr/bin/env node
// Exhaustive check of src/io/f32json.ts (not a test: minutes of CPU; after `npx tsc -p .`): every float32
// with 2^-40 ≤ |x| < 1 (the formatter's own range; the rest goes to the built-in formatting) written by
// float32Json must equal JSON.stringify of the same values. Positive values in full, negative ones sampled
// (the sign is only a prefix). Usage: node scripts/check-f32json.mjs [FIRST_EXPONENT LAST_EXPONENT] (biased, 87…126)
import { float32Json } from '../dist/src/io/f32json.js';

const [lo, hi] = process.argv.length > 3 ? [Number(process.argv[2]), Number(process.argv[3])] : [87, 126];
const CHUNK = 1 << 20;
const f = new Float32Array(CHUNK);
const u = new Uint32Array(f.buffer);
let bad = 0;
let checked = 0;
for (let exp = lo; exp <= hi; exp++) {
  for (let start = 0; start < 1 << 23; start += CHUNK) {
    for (let i = 0; i < CHUNK; i++) u[i] = ((exp << 23) | (start + i)) >>> 0;
    if (start === 0) for (let i = 0; i < CHUNK; i += 97) u[i] = (u[i] | 0x80000000) >>> 0;
    const a = float32Json(f);
    const b = JSON.stringify(Array.from(f));
    checked += CHUNK;
    if (a !== b) {
      const aa = a.slice(1, -1).split(',');
      const bb = b.slice(1, -1).split(',');
      for (let i = 0; i < CHUNK; i++) {
        if (aa[i] !== bb[i] && bad++ < 20) console.log(`0x${u[i].toString(16)}: ${aa[i]} (want ${bb[i]})`);
      }
    }
  }
  process.stderr.write(`exponent ${exp}: ${checked.toLocaleString('en-US')} values checked, ${bad} differ\n`);
}
console.log(bad ? `${bad} values differ` : `all ${checked.toLocaleString('en-US')} values equal`);
process.exitCode = bad ? 1 : 0;
