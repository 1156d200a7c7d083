/**
 * What a parsing worker does to a chunk of NDJSON lines (see ndjson-parallel.ts): parse each line as
 * readNdjson would, and shape each record for the tool: only the fields it reads, each top-level object as
 * the byte range of its text (a RawJson on the other side, as objectsAsText makes it), each vector field as
 * a Float32Array. (Parsing a share of the chunks on the main thread as well gained nothing: 48.0–49.3 s
 * without, 49.5–52.2 s with every second chunk, 100,000 rows with 17-digit vectors; the two cores are full.)
 */
import { isUtf8 } from 'node:buffer';
import { parseLineText } from './ndjson-line.js';
import { lastTopLevelSpans } from './rawjson.js';
import type { ChunkJob, ChunkResult, LineOut, WorkerParse } from './ndjson-parallel.js';

/** A WorkerParse's fields as sets. */
export interface Shape {
  keep?: Set<string>;
  float32: Set<string>;
}

export const shapeOf = (spec: Omit<WorkerParse, 'workers'>): Shape => ({
  keep: spec.keep ? new Set(spec.keep) : undefined,
  float32: new Set(spec.float32 ?? []),
});

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The numbers as float32 when every one is a number that float32 holds (anything else is left to the tool's checks). */
function asFloat32(v: unknown): unknown {
  if (!Array.isArray(v) || v.length === 0) return v;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number') return v;
    out[i] = x;
    if (!Number.isFinite(out[i])) return v;
  }
  return out;
}

function shapeLine(spec: Shape, b: Buffer, s: number, e: number, text: string, value: unknown): Pick<LineOut, 'v' | 'raws'> {
  const { keep, float32 } = spec;
  if (!isObject(value)) return { v: value };
  const out: Record<string, unknown> = {};
  let raws: LineOut['raws'];
  let spans: Map<string, [number, number]> | undefined;
  // Where an object's text is in the line's bytes. Every character of the decoded text stands for at least
  // one byte (a bad byte sequence for one U+FFFD), so as many characters as bytes means one byte each: the
  // offsets are the same. Otherwise they are counted, which needs valid UTF-8; a line that is not sends the
  // objects' decoded text (with U+FFFD, as readNdjson has it). Bytes that are not valid UTF-8 go through
  // ct-load's encoder decoded, as the text would. Both are found at the first object of the line.
  const ascii = e - s === text.length;
  let bytesOk = ascii;
  for (const k in value) {
    if (keep && !keep.has(k)) continue;
    if (k === '__proto__') continue; // an own property of that name: assigning would set the prototype
    let x = value[k];
    if (isObject(x)) {
      if (!spans) {
        spans = lastTopLevelSpans(text) ?? new Map();
        bytesOk ||= isUtf8(b.subarray(s, e));
      }
      const at = spans.get(k);
      if (at && text.charCodeAt(at[0]) === 0x7b) {
        if (!bytesOk) (raws ??= []).push([k, text.slice(at[0], at[1])]);
        else if (ascii) (raws ??= []).push([k, s + at[0], s + at[1]]);
        else {
          const a = s + Buffer.byteLength(text.slice(0, at[0]));
          (raws ??= []).push([k, a, a + Buffer.byteLength(text.slice(at[0], at[1]))]);
        }
        out[k] = null;
        continue;
      }
    } else if (float32.has(k)) x = asFloat32(x);
    out[k] = x;
  }
  return raws ? { v: out, raws } : { v: out };
}

/** One chunk's lines → their results (`i`: the line's index in the chunk; blank lines give none). */
export function parseChunk(job: ChunkJob, spec: Shape): ChunkResult {
  const b = Buffer.from(job.buf.buffer, job.buf.byteOffset, job.buf.byteLength);
  const items: LineOut[] = [];
  let pos = 0;
  let i = 0;
  while (pos < b.length) {
    const nl = b.indexOf(10, pos);
    const end = nl < 0 ? b.length : nl;
    const first = job.first && i === 0;
    const line = b.toString('utf8', pos, end);
    const r = parseLineText(line, first);
    if (r !== undefined) {
      if ('error' in r) items.push({ i, s: 0, e: 0, err: r.error, text: r.text });
      else {
        // The byte range of the JSON text: without a BOM (first line) and a trailing CR, as parseLineText cut them.
        let s = pos;
        let e = end;
        if (first && line.charCodeAt(0) === 0xfeff) s += 3;
        if (e > s && b[e - 1] === 0x0d) e--;
        items.push({ i, s, e, ...shapeLine(spec, b, s, e, r.json, r.value) });
      }
    }
    i++;
    pos = end + 1;
  }
  return { seq: job.seq, lines: i, items };
}

