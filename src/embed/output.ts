/**
 * How ct-embed writes a record with its vector, without serializing the record again.
 *
 * NDJSON: the input line as read, with the two new fields appended before its closing brace; the vector's
 * text comes from float32Json (each number the shortest decimal that reads back as the same float32). A
 * canonical line (as JSON.stringify or any ct-pipeline tool writes it) gives exactly the bytes of
 * `JSON.stringify({...rec, field: float32Values(vector), embedding_model})`; another line keeps its own spelling of the fields it had (white space, escapes, number
 * forms, duplicate keys: a JSON reader gets the same values either way). A record that already has the
 * vector field or `embedding_model`, or comes from Arrow (no line), is serialized whole, the vector spliced in
 * as its text.
 * Arrow: the record gets the vector as a Float32Array (no number array per record) and is encoded by the
 * writer.
 */
import { Float32Vector, type Rec } from '../io/arrow.js';
import { float32Json, float32JsonBound, float32JsonInto } from '../io/f32json.js';
import type { Format } from '../io/input.js';
import { RawJson, objectsAsText, stringifyRecord } from '../io/rawjson.js';
import type { Embedded } from './embed.js';

/** What RecordWriter.write takes: the record, and for NDJSON its serialized line (then `rec` is not read). */
export interface Output {
  rec: Rec;
  json?: string | Uint8Array;
}

const MODEL = 'embedding_model';
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The JSON white space a line may end with after its closing brace. */
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Where the closing brace of a line holding one JSON object is (-1 if it does not end with one). */
export function closingBrace(line: string): number {
  let end = line.length - 1;
  while (end >= 0 && isSpace(line.charCodeAt(end))) end--;
  return end >= 0 && line.charCodeAt(end) === 0x7d ? end : -1;
}

/**
 * The writer's input for each embedded record, for output `format`, vector field `field`, model `label`.
 * NDJSON lines come as UTF-8 bytes in a buffer reused by the next call (RecordWriter.write copies them).
 */
export function embeddedOutput(format: Format, field: string, label: string): (e: Embedded) => Output {
  if (format !== 'ndjson') {
    return (e) => {
      // The input record is not used after this: it becomes the output record (key order as a spread gives);
      // its objects (a study's `raw`) go to their JSON columns as the line's text (objectsAsText).
      const rec = e.item.json !== undefined ? objectsAsText(e.rec, e.item.json) : e.rec;
      const v = e.vector;
      rec[field] = v ? new Float32Vector(v.buffer as ArrayBuffer, v.byteOffset, v.length) : null;
      rec[MODEL] = v ? label : null;
      return { rec };
    };
  }
  const fieldKey = Buffer.from(JSON.stringify(field) + ':');
  const withModel = Buffer.from(`,${JSON.stringify(MODEL)}:${JSON.stringify(label)}}`);
  const withoutModel = Buffer.from(`,${JSON.stringify(MODEL)}:null}`);
  const nullVector = Buffer.from('null');
  const appendable = field !== MODEL;
  let buf = Buffer.allocUnsafe(1 << 16);
  return (e) => {
    const rec = e.rec;
    const v = e.vector;
    const line = e.item.json;
    if (line !== undefined && appendable && !own(rec, field) && !own(rec, MODEL)) {
      const end = closingBrace(line);
      if (end >= 0) {
        let empty = true;
        for (const _ in rec) {
          empty = false;
          break;
        }
        const need = end * 3 + 1 + fieldKey.length + (v ? float32JsonBound(v.length) : 4) + withModel.length;
        if (buf.length < need) buf = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
        let p = buf.write(end === line.length - 1 ? line : line.slice(0, end + 1), 0, 'utf8') - 1; // up to the brace, then over it
        if (!empty) buf[p++] = 0x2c; // ,
        p += fieldKey.copy(buf, p);
        p = v ? float32JsonInto(v, buf, p) : p + nullVector.copy(buf, p);
        p += (v ? withModel : withoutModel).copy(buf, p);
        return { rec, json: buf.subarray(0, p) };
      }
    }
    const out: Rec = { ...rec, [field]: new RawJson(v ? float32Json(v) : 'null'), [MODEL]: v ? label : null };
    return { rec: out, json: stringifyRecord(out) };
  };
}
