/**
 * The JSON text of a float32 vector, exactly as `JSON.stringify(Array.from(v))` writes it, about four times
 * faster: writing 1536 floats per record as text was most of ct-embed's time with every vector cached.
 *
 * JSON.stringify prints each value as the shortest decimal that reads back as the same double (ECMAScript
 * Number::toString: fewest digits, then the closest, then the even one). A float32 value x = m·2^q (24-bit m)
 * widened to a double has 29 zero bits below m, so that decimal is found here with exact integer arithmetic
 * in doubles: in units of 10^-e10 (e10 chosen so that y = x·10^e10 has 17 digits before the point),
 * y = m·5^e10 / 2^s, and the double's rounding interval is y ± 5^e10 / 2^(s+30) (ends included: the widened
 * mantissa is even). The 17-digit candidates next to y, then every shorter grid, are tested against it.
 * Values outside 2^-40 ≤ |x| < 1 (vectors of unit length have almost none) and exact powers of two (whose
 * interval is lopsided) go to the built-in formatting. An exhaustive comparison over every float32 in the
 * fast range is in `scripts/check-f32json.mjs`.
 */

const TWO26 = 2 ** 26;
const INV26 = 2 ** -26;
/** Binary exponents (biased, float32) of the fast range: 2^-40 ≤ |x| < 1. */
const EXP_MIN = 87;
const EXP_MAX = 126;

// Per decimal scale e10 (17…29): 5^e10 in three base-2^26 limbs, and floor(5^e10 / 2^30).
const P0: number[] = [];
const P1: number[] = [];
const P2: number[] = [];
const PQ: number[] = [];
// Per biased exponent: the scale below and from the mantissa threshold where x reaches the next power of ten.
const E10LO: number[] = [];
const E10HI: number[] = [];
const MT: number[] = [];
const POW2: number[] = [];
/** 2^-i: multiplying by it is exact, and faster than dividing by 2^i. */
const INV2: number[] = [];
const POW10: number[] = [];
const POW10I = new Int32Array(10);
{
  const mask = (1n << 26n) - 1n;
  for (let e = 0; e <= 40; e++) {
    const p = 5n ** BigInt(e);
    P0[e] = Number(p & mask);
    P1[e] = Number((p >> 26n) & mask);
    P2[e] = Number(p >> 52n);
    PQ[e] = Number(p >> 30n);
  }
  for (let i = 0; i <= 60; i++) {
    POW2[i] = 2 ** i;
    INV2[i] = 2 ** -i;
  }
  for (let i = 0; i <= 16; i++) POW10[i] = 10 ** i;
  for (let i = 0; i <= 9; i++) POW10I[i] = 10 ** i;
  for (let exp = EXP_MIN; exp <= EXP_MAX; exp++) {
    const negQ = BigInt(150 - exp); // x = m / 2^negQ
    // D: 10^D ≤ 2^23 / 2^negQ < 10^(D+1), D < 0: compare 2^23 · 10^-D with 2^negQ.
    let d = -1;
    while ((1n << 23n) * 10n ** BigInt(-d) < 1n << negQ) d--;
    // The smallest m with m / 2^negQ ≥ 10^(D+1) (never a power of ten exactly: those are not dyadic).
    const k = BigInt(-(d + 1));
    const den = 10n ** k;
    const mt = ((1n << negQ) + den - 1n) / den;
    E10LO[exp] = 16 - d;
    E10HI[exp] = 15 - d;
    MT[exp] = Number(mt < 1n << 24n ? mt : 1n << 24n);
  }
}

let out = Buffer.allocUnsafe(1 << 16);
/** "00" … "99" as two character codes in a little-endian 16-bit word. */
const PAIRS16 = new Uint16Array(100);
for (let i = 0; i < 100; i++) PAIRS16[i] = (48 + Math.floor(i / 10)) | ((48 + (i % 10)) << 8);

/** The text of one value the way JSON.stringify writes a number. */
const slow = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

/**
 * Write |x| (a float32 in the fast range: biased exponent `exp`, mantissa with the hidden bit `m`, not a
 * power of two) at `pos` of `o`; returns the new position, or -1 for the rare values left to the caller.
 */
function writeFast(o: Uint8Array, dv: DataView, exp: number, m: number, pos: number): number {
  const e10 = m >= MT[exp]! ? E10HI[exp]! : E10LO[exp]!;
  const s = 150 - exp - e10;
  // Z = m · 5^e10 in base-2^26 limbs.
  let z0 = m * P0[e10]!;
  let z1 = m * P1[e10]!;
  let z2 = m * P2[e10]!;
  let c = Math.floor(z0 * INV26);
  z0 -= c * TWO26;
  z1 += c;
  c = Math.floor(z1 * INV26);
  z1 -= c * TWO26;
  z2 += c;
  // y = Z / 2^s = chi·2^26 + clo + f / 2^s.
  let chi: number;
  let clo: number;
  let f: number;
  if (s <= 26) {
    const p = POW2[s]!;
    const ip = INV2[s]!;
    const a0 = Math.floor(z0 * ip);
    const a1 = Math.floor(z1 * ip);
    f = z0 - a0 * p;
    clo = (z1 - a1 * p) * POW2[26 - s]! + a0;
    chi = z2 * POW2[26 - s]! + a1;
  } else {
    const r = s - 26;
    const p = POW2[r]!;
    const ip = INV2[r]!;
    const a1 = Math.floor(z1 * ip);
    const a2 = Math.floor(z2 * ip);
    f = (z1 - a1 * p) * TWO26 + z0;
    clo = (z2 - a2 * p) * POW2[26 - r]! + a1;
    chi = a2;
  }
  // floor(y) = t·10^8 + u, t of 9 digits.
  let qh = Math.floor(chi * 1e-8);
  let rh = chi - qh * 1e8;
  if (rh < 0) {
    qh--;
    rh += 1e8;
  } else if (rh >= 1e8) {
    qh++;
    rh -= 1e8;
  }
  const xx = rh * TWO26 + clo;
  let ql = Math.floor(xx * 1e-8);
  let u0 = xx - ql * 1e8;
  if (u0 < 0) {
    ql--;
    u0 += 1e8;
  } else if (u0 >= 1e8) {
    ql++;
    u0 -= 1e8;
  }
  const t0 = qh * TWO26 + ql;
  if (t0 < 1e8 || t0 >= 1e9) return -1;
  // Both below 2^31 from here on: int32 arithmetic (a double `%` is a slow call).
  let t = t0 | 0;
  let u = u0 | 0;
  // Candidates: a distance (in units of 2^-s) is within the interval when ≤ pq.
  const pq = PQ[e10]!;
  const one = POW2[s]!;
  let j = 0;
  let downD = f;
  let upD = one - f;
  let downOk = downD <= pq;
  let upOk = upD <= pq;
  // The interval is narrower than 11.2 units: a coarser grid point can only be that close. The first two
  // grids (one in three values ends there) with constant divisors: a division by a variable is slow.
  const r1 = u % 10;
  let dn = r1 * one + f;
  let up = (10 - r1) * one - f;
  if (dn <= pq || up <= pq) {
    j = 1;
    downOk = dn <= pq;
    upOk = up <= pq;
    downD = dn;
    upD = up;
    const r2 = u % 100;
    dn = r2 <= 11 ? r2 * one + f : -1;
    up = 100 - r2 <= 12 ? (100 - r2) * one - f : -1;
    for (let jj = 3; jj <= 17; jj++) {
      const dOk = dn >= 0 && dn <= pq;
      const uOk = up >= 0 && up <= pq;
      if (!dOk && !uOk) break;
      j = jj - 1;
      downOk = dOk;
      upOk = uOk;
      downD = dn;
      upD = up;
      if (jj === 17) break;
      dn = -1;
      up = -1;
      if (jj <= 8) {
        const pw = POW10I[jj]!;
        const rem = u % pw;
        if (rem <= 11) dn = rem * one + f;
        if (pw - rem <= 12) up = (pw - rem) * one - f;
      } else {
        const pw = POW10I[jj - 8]!;
        const rem = t % pw;
        if (rem === 0 && u <= 11) dn = u * one + f;
        if (rem === pw - 1 && 1e8 - u <= 12) up = (1e8 - u) * one - f;
      }
    }
  }
  let goUp: boolean;
  if (downOk && upOk) {
    if (downD !== upD) goUp = upD < downD;
    else {
      // A tie: the even last digit. The down candidate's last kept digit is the digit at position j of floor(y).
      const digit = j < 8 ? ((u / POW10I[j]!) | 0) % 10 : ((t / POW10I[j - 8]!) | 0) % 10;
      goUp = digit % 2 === 1;
    }
  } else goUp = upOk;
  // The chosen candidate, as t·10^8 + u with j trailing zeros.
  if (j === 0) {
    if (goUp && ++u >= 1e8) {
      u -= 1e8;
      t++;
    }
  } else if (j <= 8) {
    const pw = POW10I[j]!;
    u -= j === 1 ? u % 10 : u % pw;
    if (goUp) {
      u += pw;
      if (u >= 1e8) {
        u -= 1e8;
        t++;
      }
    }
  } else {
    const pw = POW10I[j - 8]!;
    t -= t % pw;
    if (goUp) t += pw;
    u = 0;
  }
  if (t >= 1e9) return -1;
  const k = 17 - j;
  const n = 17 - e10; // x = 0.d1d2… · 10^n, n ≤ 0
  // The digits go straight to their places (all 17; the output goes on after the first k).
  let at: number; // where digit 1 goes; digit 0 at `lead`
  let lead: number;
  if (n > -6) {
    o[pos++] = 48; // 0
    o[pos++] = 46; // .
    for (let i = n; i < 0; i++) o[pos++] = 48;
    lead = pos;
    at = pos + 1;
    pos += k;
  } else {
    lead = pos;
    at = pos + 2;
    o[pos + 1] = 46; // .
    pos = k > 1 ? pos + 1 + k : pos + 1;
  }
  // Two digits at a time (one 16-bit store): u = digits 9…16, t = digits 0…8.
  const uh = (u / 10000) | 0;
  const ul = u - uh * 10000;
  const th = (t / 10000) | 0;
  const tl = t - th * 10000;
  const d0 = (th / 10000) | 0;
  const tm = th - d0 * 10000;
  let g = (ul / 100) | 0;
  dv.setUint16(at + 14, PAIRS16[ul - g * 100]!, true);
  dv.setUint16(at + 12, PAIRS16[g]!, true);
  g = (uh / 100) | 0;
  dv.setUint16(at + 10, PAIRS16[uh - g * 100]!, true);
  dv.setUint16(at + 8, PAIRS16[g]!, true);
  g = (tl / 100) | 0;
  dv.setUint16(at + 6, PAIRS16[tl - g * 100]!, true);
  dv.setUint16(at + 4, PAIRS16[g]!, true);
  g = (tm / 100) | 0;
  dv.setUint16(at + 2, PAIRS16[tm - g * 100]!, true);
  dv.setUint16(at, PAIRS16[g]!, true);
  o[lead] = 48 + d0;
  if (n <= -6) {
    o[pos++] = 101; // e
    o[pos++] = 45; // -
    const e = 1 - n;
    if (e >= 10) o[pos++] = 48 + Math.floor(e / 10);
    o[pos++] = 48 + (e % 10);
  }
  return pos;
}

/** Bytes float32JsonInto may write for a vector of `n` values: sign, 17 digits, point, 5 zeros or an exponent, comma. */
export const float32JsonBound = (n: number): number => 2 + n * 32;

/**
 * Write `JSON.stringify(Array.from(v))` as ASCII bytes into `o` at `pos` (room for float32JsonBound(v.length)
 * bytes needed); returns the position after it.
 */
export function float32JsonInto(v: Float32Array, o: Uint8Array, pos: number): number {
  const n = v.length;
  const bits = new Uint32Array(v.buffer, v.byteOffset, n);
  const dv = new DataView(o.buffer, o.byteOffset, o.byteLength);
  o[pos++] = 91; // [
  for (let i = 0; i < n; i++) {
    if (i > 0) o[pos++] = 44; // ,
    const b = bits[i]!;
    const exp = (b >>> 23) & 0xff;
    const frac = b & 0x7fffff;
    if ((b & 0x7fffffff) === 0) {
      o[pos++] = 48;
      continue;
    }
    if (exp >= EXP_MIN && exp <= EXP_MAX && frac !== 0) {
      const start = pos;
      o[pos] = 45; // - (kept for a negative value: no branch to mispredict)
      pos += b >>> 31;
      const end = writeFast(o, dv, exp, frac | 0x800000, pos);
      if (end >= 0) {
        pos = end;
        continue;
      }
      pos = start;
    }
    const s = slow(v[i]!);
    for (let j = 0; j < s.length; j++) o[pos++] = s.charCodeAt(j);
  }
  o[pos++] = 93; // ]
  return pos;
}

/** `JSON.stringify(Array.from(v))`, the same text. */
export function float32Json(v: Float32Array): string {
  const need = float32JsonBound(v.length);
  if (out.length < need) out = Buffer.allocUnsafe(Math.max(need, out.length * 2));
  return out.toString('latin1', 0, float32JsonInto(v, out, 0));
}
