import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32Json, float32JsonBound, float32JsonInto, float32Text, float32Value, float32Values, isFloat32Number } from './f32json.js';

const reference = (v: Float32Array) => `[${Array.from(v, float32Text).join(',')}]`;

/** `n` float32 values of random bits (NaN and infinities among them), from `seed`. */
function randomFloat32s(seed: number, n: number): Float32Array {
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = (seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  return new Float32Array(u.buffer);
}

/** The first value that differs, for a readable failure. */
function assertSame(v: Float32Array): void {
  const got = float32Json(v);
  const want = reference(v);
  if (got === want) return;
  const g = got.slice(1, -1).split(',');
  const w = want.slice(1, -1).split(',');
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const i = w.findIndex((x, j) => x !== g[j]);
  assert.fail(`value ${i} (bits 0x${u[i]?.toString(16)}): ${g[i]} written, ${w[i]} wanted`);
}

test('float32Json: every biased exponent of the fast range and beyond, mantissas at both ends, ties and round values', () => {
  const vals: number[] = [];
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let exp = 0; exp <= 254; exp += exp < 60 || exp > 170 ? 7 : 1) {
    const ms = [0, 1, 2, 3, 0x7fffff, 0x7ffffe, 0x400000, 0x200000, 0x600000, 0x100000];
    for (let k = 1; k < 24; k++) ms.push(((0x5a5a5a >>> k) << k) & 0x7fffff, (1 << k) & 0x7fffff, ((3 << k) >>> 1) & 0x7fffff);
    for (let k = 0; k < 300; k++) ms.push((Math.imul(k + exp, 2654435761) >>> 9) & 0x7fffff);
    for (const m of ms) {
      u[0] = ((exp << 23) | m) >>> 0;
      vals.push(f[0]!, -f[0]!);
    }
  }
  // Decimal-looking values, neighbours of powers of ten, and what JSON turns into null or 0.
  for (let e = -40; e <= 0; e++) {
    for (const d of [1, 2, 3, 5, 7.5, 9.99]) {
      const x = Math.fround(d * 10 ** e);
      f[0] = x;
      u[0]++;
      vals.push(x, f[0]!);
      u[0] -= 2;
      vals.push(f[0]!);
    }
  }
  vals.push(0, -0, 0.5, 0.75, 0.375, 0.1, 0.2, 0.3, 1e-6, 1e-7, 1.5e-6, 9.999999e-7, NaN, Infinity, -Infinity, 1, 2, 123456, 1e30, 1e-45, 3.4e38);
  // Near powers of ten at the top of the fast range (nine digits round up to ten), and integers float32 holds.
  for (const x of [999999999, 1e9, 536870911, 536870912, 1073741823, 16777215, 16777217, 99999.995, 0.0099999999]) vals.push(Math.fround(x));
  assertSame(Float32Array.from(vals));
});

test('float32Text: the shortest decimal that reads back as the same float32, as numpy prints float32s', () => {
  const f = (x: number) => float32Text(Math.fround(x));
  assert.equal(f(0.1), '0.1');
  assert.equal(f(1 / 3), '0.33333334');
  assert.equal(f(-0.025), '-0.025');
  assert.equal(f(2 ** -20), '9.536743e-7');
  assert.equal(f(1e-45), '1e-45'); // the smallest subnormal
  assert.equal(f(3.4028234663852886e38), '3.4028235e+38'); // the largest float32
  assert.equal(f(16777216), '16777216');
  assert.equal(f(123456.789), '123456.79');
  assert.equal(f(0), '0');
  assert.equal(f(-0), '0');
  assert.equal(f(NaN), 'null');
  assert.equal(f(-Infinity), 'null');
  // Every text reads back as its float32, and one digit fewer does not.
  for (const x of randomFloat32s(7, 20_000)) {
    if (!Number.isFinite(x) || x === 0) continue;
    const s = float32Text(x);
    assert.equal(Math.fround(Number(s)), x, `${s} reads back as ${x}`);
    const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
    if (digits > 1) assert.notEqual(Math.fround(Number(x.toPrecision(digits - 1))), x, `${x.toPrecision(digits - 1)} is shorter than ${s}`);
  }
});

test('float32Value is the double of the text; isFloat32Number takes both spellings of a float32 and nothing else', () => {
  for (const x of randomFloat32s(99, 50_000)) {
    if (!Number.isFinite(x)) continue;
    const d = Number(float32Text(x));
    assert.equal(float32Value(x), d, `float32Value(${x})`);
    assert.equal(String(float32Value(x)), float32Text(x));
    assert.ok(isFloat32Number(d) && isFloat32Number(x), `${d} and ${x} stand for a float32`);
  }
  assert.deepEqual(float32Values(Float32Array.from([0.1, -0.2, 0])), [0.1, -0.2, 0]);
  for (const d of [0.123456789012, 1 / 3, 0.1 + 1e-12, 1e39, Infinity, NaN]) assert.ok(!isFloat32Number(d), `${d} is not a float32's`);
  for (const d of [0.1, 0.5, 1, 1e-45, 0.30000001192092896, 0.3]) assert.ok(isFloat32Number(d), `${d} is a float32's`);
});

test('float32Json: random values the size of a unit vector\'s, and random bits', () => {
  let seed = 12345;
  const rnd = () => ((seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
  const v = new Float32Array(50_000);
  for (let i = 0; i < v.length; i++) v[i] = (rnd() - 0.5) * 2 ** -(rnd() * 45);
  assertSame(v);
  const bits = new Uint32Array(v.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = (rnd() * 2 ** 32) >>> 0;
  assertSame(v);
});

test('float32JsonInto writes the same text as bytes at an offset, in the room float32JsonBound gives', () => {
  const v = Float32Array.from([0.1, -0.000001234, 0, 5e-7, -0.3333333432674408, NaN, 1e-45, 3e38]);
  const buf = Buffer.alloc(10 + float32JsonBound(v.length), 0x78);
  const end = float32JsonInto(v, buf, 10);
  assert.equal(buf.toString('latin1', 10, end), reference(v));
  assert.equal(buf.toString('latin1', 0, 10), 'x'.repeat(10));
  assert.equal(float32Json(new Float32Array(0)), '[]');
  // A view into a larger buffer (a cache entry), not at offset 0.
  const big = new Float32Array(8).fill(0.25);
  assertSame(big.subarray(3, 6));
});
