/**
 * How a float32 value is written as JSON: the shortest decimal that reads back as the same float32 (a JSON
 * reader's double, rounded to float32), spelled the way JavaScript spells that decimal's double. That is
 * what numpy prints for a float32 and about what the OpenAI API sends for `encoding_format: "float"`
 * (≈ 9 digits), where the double a float32 widens to takes 17 (0.1f → 0.1, not 0.10000000149011612): a
 * 1536-d vector is 19 KB of text instead of 31 KB, and parsing it again takes about half the time (a number
 * of ≤ 15 digits is on V8's exact fast path; a 17-digit one is not).
 *
 * The rule, exactly (`float32Text`, the reference): the first p in 1…9 for which x.toPrecision(p) reads back
 * as x, as `String(Number(that))`; 0 and -0 → "0"; NaN and ±Infinity → "null" (as JSON.stringify). Nine
 * digits always suffice. `float32Value` gives that decimal's double: a record read from Arrow gets it, so
 * that NDJSON → Arrow → NDJSON gives back the same text.
 *
 * The fast path (2^-40 ≤ |x| < 2^30, not a power of two): y = |x|·10^k with 9 digits before the point, the
 * float32's half-interval in the same units is h = 2^(e-151)·10^k (symmetric: x is not a power of two), and
 * the grids of 10, 100, … are tried in turn: the nearest grid point is in when it is closer than h. y carries
 * at most 1.2e-7 of rounding error and h ≥ 2.98, so a decision is certain unless a distance is within
 * h·2^-20 of h or a grid point is nearly a tie: such values (and the rest of the range, and powers of two)
 * go to the reference. An exhaustive comparison over every float32 of the fast range is in
 * `scripts/check-f32json.mjs`.
 */

/** Biased exponents (float32) of the fast range: 2^-40 ≤ |x| < 2^30. */
const EXP_MIN = 87;
const EXP_MAX = 156;
const TIGHT = 1 - 2 ** -20;
const LOOSE = 1 + 2 ** -20;

const POW10: number[] = [];
const INV10: number[] = [];
for (let i = 0; i <= 22; i++) {
  POW10[i] = 10 ** i;
  INV10[i] = 10 ** -i;
}
const POW10I = new Int32Array(10);
for (let i = 0; i <= 9; i++) POW10I[i] = 10 ** i;

// Per biased exponent: the scale k below and from the mantissa threshold MT (where x reaches the next power
// of ten), and the half-interval h for each.
const KLO: number[] = [];
const KHI: number[] = [];
const HLO: number[] = [];
const HHI: number[] = [];
const MT: number[] = [];
{
  const big10 = (n: number) => 10n ** BigInt(n);
  // Is m·2^(e-150) < 10^n?
  const below = (m: bigint, e: number, n: number): boolean => {
    const l = m * (e > 150 ? 1n << BigInt(e - 150) : 1n) * (n < 0 ? big10(-n) : 1n);
    const r = (n > 0 ? big10(n) : 1n) * (e < 150 ? 1n << BigInt(150 - e) : 1n);
    return l < r;
  };
  for (let e = EXP_MIN; e <= EXP_MAX; e++) {
    let n = -20;
    while (!below(1n << 23n, e, n)) n++; // 10^(n-1) ≤ 2^(e-127) < 10^n
    // The smallest m with m·2^(e-150) ≥ 10^n: ceil(10^n · 2^(150-e)).
    const num = (n > 0 ? big10(n) : 1n) * (e < 150 ? 1n << BigInt(150 - e) : 1n);
    const den = (n < 0 ? big10(-n) : 1n) * (e > 150 ? 1n << BigInt(e - 150) : 1n);
    const mt = (num + den - 1n) / den;
    const k = 9 - n;
    const h = (kk: number) => (kk >= 0 ? 2 ** (e - 151) * POW10[kk]! : 2 ** (e - 151) / POW10[-kk]!);
    KLO[e] = k;
    KHI[e] = k - 1;
    HLO[e] = h(k);
    HHI[e] = h(k - 1);
    MT[e] = Number(mt < 1n << 24n ? mt : 1n << 24n);
  }
}

/** The reference: the text of float32 value `x` (see the top of the file). */
export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  if (x === 0) return '0';
  for (let p = 1; p < 9; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return String(d);
  }
  return String(Number(x.toPrecision(9)));
}

// The fast path's result: |x| = DIGITS / 10^SCALE, DIGITS without trailing zeros.
let DIGITS = 0;
let SCALE = 0;

/**
 * The shortest decimal of |x| (a float32 in the fast range: biased exponent `e`, mantissa with the hidden
 * bit `m`, not a power of two) into DIGITS and SCALE; false when the reference must decide.
 */
function shortest(ax: number, e: number, m: number): boolean {
  let k: number;
  let h: number;
  if (m >= MT[e]!) {
    k = KHI[e]!;
    h = HHI[e]!;
  } else {
    k = KLO[e]!;
    h = HLO[e]!;
  }
  const y = k >= 0 ? ax * POW10[k]! : ax / POW10[-k]!;
  const hIn = h * TIGHT;
  const hOut = h * LOOSE;
  let c = 0;
  let j = 1;
  for (; j <= 9; j++) {
    const g = POW10[j]!;
    const q = y * INV10[j]!;
    const r = Math.round(q);
    const d = Math.abs(r * g - y);
    if (d >= hIn) {
      if (d <= hOut) return false;
      break;
    }
    if (d > 0.499999 * g) return false; // nearly a tie: which neighbour is nearer is not certain
    c = r;
  }
  j--;
  if (j === 0) {
    // Nine digits (always within the interval: |y - round(y)| ≤ 0.5 < h).
    c = Math.round(y);
    if (Math.abs(c - y) > 0.499999) return false;
  }
  let ci = c | 0;
  k -= j;
  while (ci % 10 === 0) {
    ci = (ci / 10) | 0;
    k--;
  }
  DIGITS = ci;
  SCALE = k;
  return true;
}

/** The double of float32 value `x`'s text (`Number(float32Text(x))`, without the text). */
export function float32Value(x: number): number {
  const f = Math.fround(x);
  if (f === 0 || !Number.isFinite(f)) return f;
  F32[0] = f;
  const b = U32[0]!;
  const e = (b >>> 23) & 0xff;
  const frac = b & 0x7fffff;
  if (e >= EXP_MIN && e <= EXP_MAX && frac !== 0 && shortest(Math.abs(f), e, frac | 0x800000)) {
    const v = SCALE >= 0 ? DIGITS / POW10[SCALE]! : DIGITS * POW10[-SCALE]!;
    return f < 0 ? -v : v;
  }
  return Number(float32Text(f));
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Is finite double `d` a float32's: the float32 itself, or its text's double (see float32Value)? */
export const isFloat32Number = (d: number): boolean => {
  const f = Math.fround(d);
  return Number.isFinite(f) && (f === d || float32Value(f) === d);
};

/** "00" … "99" as two character codes in a little-endian 16-bit word. */
const PAIRS16 = new Uint16Array(100);
for (let i = 0; i < 100; i++) PAIRS16[i] = (48 + Math.floor(i / 10)) | ((48 + (i % 10)) << 8);
const scratch = new Uint8Array(16);
const scratchView = new DataView(scratch.buffer);

/** Write DIGITS / 10^SCALE at `pos` the way JavaScript writes that number; returns the new position. */
function writeDecimal(o: Uint8Array, pos: number): number {
  let c = DIGITS;
  let nd = 1;
  while (nd < 10 && c >= POW10I[nd]!) nd++;
  // The digits into scratch[0…nd), two at a time from the right.
  let at = nd;
  while (at >= 2) {
    const q = (c / 100) | 0;
    scratchView.setUint16(at - 2, PAIRS16[c - q * 100]!, true);
    c = q;
    at -= 2;
  }
  if (at === 1) scratch[0] = 48 + c;
  const n = nd - SCALE; // |x| = 0.d1d2…d_nd · 10^n
  if (n <= 0 && n > -6) {
    o[pos++] = 48; // 0
    o[pos++] = 46; // .
    for (let i = n; i < 0; i++) o[pos++] = 48;
    for (let i = 0; i < nd; i++) o[pos++] = scratch[i]!;
  } else if (n > 0 && n <= 21) {
    if (nd <= n) {
      for (let i = 0; i < nd; i++) o[pos++] = scratch[i]!;
      for (let i = nd; i < n; i++) o[pos++] = 48;
    } else {
      for (let i = 0; i < n; i++) o[pos++] = scratch[i]!;
      o[pos++] = 46;
      for (let i = n; i < nd; i++) o[pos++] = scratch[i]!;
    }
  } else {
    o[pos++] = scratch[0]!;
    if (nd > 1) {
      o[pos++] = 46;
      for (let i = 1; i < nd; i++) o[pos++] = scratch[i]!;
    }
    o[pos++] = 101; // e
    let ex = n - 1;
    if (ex < 0) {
      o[pos++] = 45; // -
      ex = -ex;
    } else o[pos++] = 43; // +
    if (ex >= 10) o[pos++] = 48 + Math.floor(ex / 10);
    o[pos++] = 48 + (ex % 10);
  }
  return pos;
}

/** Bytes float32JsonInto may write for a vector of `n` values (a value takes at most 23 with its comma). */
export const float32JsonBound = (n: number): number => 2 + n * 32;

/** Write the JSON array of `v`'s values as ASCII bytes into `o` at `pos` (room for float32JsonBound(v.length) bytes needed); returns the position after it. */
export function float32JsonInto(v: Float32Array, o: Uint8Array, pos: number): number {
  const n = v.length;
  const bits = new Uint32Array(v.buffer, v.byteOffset, n);
  o[pos++] = 91; // [
  for (let i = 0; i < n; i++) {
    if (i > 0) o[pos++] = 44; // ,
    const b = bits[i]!;
    if ((b & 0x7fffffff) === 0) {
      o[pos++] = 48;
      continue;
    }
    const exp = (b >>> 23) & 0xff;
    const frac = b & 0x7fffff;
    const x = v[i]!;
    if (exp >= EXP_MIN && exp <= EXP_MAX && frac !== 0 && shortest(x < 0 ? -x : x, exp, frac | 0x800000)) {
      if (b >>> 31) o[pos++] = 45; // -
      pos = writeDecimal(o, pos);
      continue;
    }
    const s = float32Text(x);
    for (let j = 0; j < s.length; j++) o[pos++] = s.charCodeAt(j);
  }
  o[pos++] = 93; // ]
  return pos;
}

let out = Buffer.allocUnsafe(1 << 16);

/** The JSON array of `v`'s values, as text. */
export function float32Json(v: Float32Array): string {
  const need = float32JsonBound(v.length);
  if (out.length < need) out = Buffer.allocUnsafe(Math.max(need, out.length * 2));
  return out.toString('latin1', 0, float32JsonInto(v, out, 0));
}

/** The values of `v` as float32Value gives them: numbers whose JSON is float32Json's text. */
export function float32Values(v: ArrayLike<number>): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = float32Value(v[i]!);
  return out;
}
