/**
 * Records ⇄ Arrow record batches.
 *
 * The schema is derived from the first batch: booleans → Bool, integers that fit → Int32, other numbers
 * → Float64, strings → Utf8, string lists → List<Utf8>, equal-length number lists → FixedSizeList<Float32>
 * (Float64 when a value is not a float32's: its exact value or its shortest text's, see f32json.ts; float32
 * values read back as the latter, so NDJSON → Arrow → NDJSON gives the same text), and anything else (objects, mixed lists, fields that are
 * null throughout the first batch) → Utf8 holding JSON text, marked `ct-pipeline:encoding=json` in the
 * field metadata so that reading restores the value.
 *
 * Nothing is dropped: a field that first appears after the first batch, a value that does not fit its
 * column's type, and the absence of a field (as opposed to a null) are carried in one extra Utf8 column
 * (`__ct_extra`, named in the schema metadata) as JSON `{"f":{field:value},"a":[absent fields],"o":[key order]}`
 * (the key order only when it differs from the schema's).
 * Reading merges it back, so NDJSON → Arrow → NDJSON gives equal records.
 */
import {
  AsyncByteQueue,
  Bool,
  Field,
  FixedSizeList,
  Float,
  Float32,
  Float64,
  Int32,
  List,
  Precision,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  RecordBatchWriter,
  Schema,
  Struct,
  Type,
  Utf8,
  makeData,
  vectorFromArray,
  type Data,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { float32Value, float32Values, isFloat32Number } from './f32json.js';
import { RawJson, Utf8Text } from './rawjson.js';

export type Rec = Record<string, unknown>;

export const EXTRA_COLUMN = '__ct_extra';
const META_ENCODING = 'ct-pipeline:encoding';
const META_EXTRA = 'ct-pipeline:extra';
const META_EXTENSION = 'ARROW:extension:name';

type Kind = 'bool' | 'int32' | 'float64' | 'utf8' | 'json' | 'strlist' | 'f32vec' | 'f64vec';
interface Column {
  name: string;
  kind: Kind;
  dim?: number;
}

const INT32_MAX = 2 ** 31 - 1;
const isInt32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= INT32_MAX;
const isNumList = (v: unknown): v is ArrayLike<number> =>
  v instanceof Float32Array ||
  v instanceof Float64Array ||
  (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)));
/** Is every number a float32's (its exact value, or the double of its text: see f32json.ts)? */
const isF32Exact = (v: ArrayLike<number>): boolean => {
  if (v instanceof Float32Array) return true;
  for (let i = 0; i < v.length; i++) if (!isFloat32Number(v[i]!)) return false;
  return true;
};

/** Derive columns from a batch of records: field order of first appearance. */
export function inferColumns(records: Rec[]): Column[] {
  const values = new Map<string, unknown[]>();
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      if (k === EXTRA_COLUMN) continue;
      let list = values.get(k);
      if (!list) values.set(k, (list = []));
      if (v !== null && v !== undefined) list.push(v);
    }
  }
  const cols: Column[] = [];
  for (const [name, vs] of values) cols.push(inferColumn(name, vs));
  return cols;
}

/**
 * The types of the pipeline's own fields (ct-fetch's raw studies, ct-prepare's and ct-embed's records),
 * used when every value seen fits: so a field that is null or absent throughout the peek still gets its
 * real type, and a later value is a plain value for every reader, not text only ct-pipeline understands.
 */
const FIELD_KINDS: Record<string, Kind> = {
  ...Object.fromEntries(
    [
      'nct_id', 'title', 'official_title', 'acronym', 'status', 'study_type', 'sponsor', 'start_date',
      'primary_completion_date', 'completion_date', 'first_posted', 'last_update_posted', 'brief_summary',
      'detailed_description', 'eligibility_criteria', 'sex', 'minimum_age', 'maximum_age', 'url', 'text',
      'content_hash', 'embedding_model',
    ].map((f) => [f, 'utf8' as Kind]),
  ),
  ...Object.fromEntries(['phases', 'conditions', 'keywords', 'collaborators', 'countries'].map((f) => [f, 'strlist' as Kind])),
  ...Object.fromEntries(['has_results', 'healthy_volunteers', 'hasResults'].map((f) => [f, 'bool' as Kind])),
  ...Object.fromEntries(['enrollment', 'location_count'].map((f) => [f, 'int32' as Kind])),
  ...Object.fromEntries(
    ['interventions', 'raw', 'protocolSection', 'resultsSection', 'annotationSection', 'documentSection', 'derivedSection'].map(
      (f) => [f, 'json' as Kind],
    ),
  ),
};

function inferColumn(name: string, vs: unknown[]): Column {
  const known = FIELD_KINDS[name];
  if (known && vs.every((v) => fits({ name, kind: known }, v))) return { name, kind: known };
  // Null throughout the peek: a string column (the commonest such field); other later values go to the extra column.
  if (vs.length === 0) return { name, kind: 'utf8' };
  if (vs.every((v) => typeof v === 'boolean')) return { name, kind: 'bool' };
  if (vs.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return { name, kind: vs.every(isInt32) ? 'int32' : 'float64' };
  }
  if (vs.every((v) => typeof v === 'string')) return { name, kind: 'utf8' };
  if (vs.every((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'))) return { name, kind: 'strlist' };
  if (vs.every(isNumList)) {
    const dim = (vs[0] as ArrayLike<number>).length;
    if (vs.every((v) => (v as ArrayLike<number>).length === dim)) {
      return { name, kind: vs.every((v) => isF32Exact(v as ArrayLike<number>)) ? 'f32vec' : 'f64vec', dim };
    }
  }
  return { name, kind: 'json' };
}

/** Does a (non-null) value fit the column's type without loss? */
function fits(col: Column, v: unknown): boolean {
  switch (col.kind) {
    case 'bool':
      return typeof v === 'boolean';
    case 'int32':
      return isInt32(v);
    case 'float64':
      return typeof v === 'number' && Number.isFinite(v);
    case 'utf8':
      return typeof v === 'string';
    case 'json':
      return true;
    case 'strlist':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'f32vec':
      return isNumList(v) && v.length === col.dim && isF32Exact(v);
    case 'f64vec':
      return isNumList(v) && v.length === col.dim;
  }
}

function arrowType(col: Column): DataType {
  switch (col.kind) {
    case 'bool':
      return new Bool();
    case 'int32':
      return new Int32();
    case 'float64':
      return new Float64();
    case 'utf8':
    case 'json':
      return new Utf8();
    case 'strlist':
      return new List(new Field('item', new Utf8(), true));
    case 'f32vec':
      return new FixedSizeList(col.dim!, new Field('item', new Float32(), false));
    case 'f64vec':
      return new FixedSizeList(col.dim!, new Field('item', new Float64(), false));
  }
}

/**
 * JSON text in a Utf8 column, marked for ct-pipeline. (Not with Arrow's canonical `arrow.json` extension
 * type: polars cannot read a file that uses it. Reading takes that mark from other writers, though.)
 */
const jsonFieldMeta = () => new Map([[META_ENCODING, 'json']]);

export function schemaFor(cols: Column[]): Schema {
  const fields = cols.map(
    (c) => new Field(c.name, arrowType(c), true, c.kind === 'json' ? jsonFieldMeta() : undefined),
  );
  fields.push(new Field(EXTRA_COLUMN, new Utf8(), true, jsonFieldMeta()));
  return new Schema(fields, new Map([[META_EXTRA, EXTRA_COLUMN]]));
}

function vectorData(col: Column, cells: unknown[]): Data {
  const type = arrowType(col);
  if (col.kind === 'f32vec' || col.kind === 'f64vec') {
    const dim = col.dim!;
    const n = cells.length;
    const flat = col.kind === 'f32vec' ? new Float32Array(n * dim) : new Float64Array(n * dim);
    const valid = new Uint8Array((n + 7) >> 3);
    let nulls = 0;
    for (let i = 0; i < n; i++) {
      const v = cells[i] as ArrayLike<number> | null;
      if (v == null) {
        nulls++;
        continue;
      }
      valid[i >> 3] |= 1 << (i & 7);
      flat.set(v, i * dim);
    }
    const childType = (type as FixedSizeList).children[0].type;
    const child = makeData({ type: childType, length: n * dim, data: flat as never });
    return makeData({ type: type as FixedSizeList, length: n, nullCount: nulls, nullBitmap: valid, child });
  }
  const vals = col.kind === 'json' ? cells.map((v) => (v == null ? null : v instanceof RawJson ? v.json : JSON.stringify(v))) : cells;
  return vectorFromArray(vals as never[], type).data[0];
}

/** Build one record batch from records against fixed columns; unfitting and unknown fields go to the extra column. */
export function recordsToBatch(schema: Schema, cols: Column[], records: Rec[]): RecordBatch {
  const known = new Set(cols.map((c) => c.name));
  const cells: unknown[][] = cols.map(() => new Array(records.length));
  const extra: (string | null)[] = new Array(records.length).fill(null);
  records.forEach((r, i) => {
    let f: Rec | undefined;
    let a: string[] | undefined;
    cols.forEach((c, j) => {
      if (!Object.prototype.hasOwnProperty.call(r, c.name) || r[c.name] === undefined) {
        cells[j][i] = null;
        (a ??= []).push(c.name);
        return;
      }
      const v = r[c.name];
      if (v === null || fits(c, v)) {
        cells[j][i] = v;
      } else {
        cells[j][i] = null;
        (f ??= {})[c.name] = v;
      }
    });
    for (const k of Object.keys(r)) {
      if (!known.has(k) && r[k] !== undefined) (f ??= {})[k] = r[k];
    }
    // Reading rebuilds columns in schema order, then the extra fields: record the key order when that differs.
    let o: string[] | undefined;
    const keys = Object.keys(r).filter((k) => r[k] !== undefined);
    const rebuilt = cols.map((c) => c.name).filter((n) => !a?.includes(n) && !(f && n in f));
    if (f) rebuilt.push(...Object.keys(f));
    if (keys.some((k, j) => rebuilt[j] !== k)) o = keys;
    if (f || a || o) extra[i] = JSON.stringify({ f, a, o });
  });
  const children = cols.map((c, j) => vectorData(c, cells[j]));
  children.push(vectorFromArray(extra, new Utf8()).data[0]);
  const data = makeData({ type: new Struct(schema.fields), length: records.length, nullCount: 0, children });
  return new RecordBatch(schema, data);
}

type CellReader = (row: number) => unknown;

export interface ReadOptions {
  /**
   * Return FixedSizeList<Float32> cells as zero-copy `Float32Vector` views into the batch instead of
   * `number[]`: for a consumer that only re-encodes the floats (ct-load), turning each vector into an
   * array was a third of its time. The views keep the batch's buffer alive while referenced.
   */
  float32Vectors?: boolean;
  /**
   * Return the JSON column cells that hold an object as `RawJson` (their text, parsed only on demand)
   * instead of parsing them: for a consumer that passes such values on unchanged (ct-load writes the text
   * to a jsonb field as it is). Arrays, strings and numbers in a JSON column are parsed as usual, so a
   * list-typed or scalar field looks the same either way. The text is trusted to be the valid JSON the
   * writer put there.
   */
  rawJson?: boolean;
  /**
   * Return Utf8 cells of at least UTF8_BYTES_MIN bytes as `Utf8Text` (their bytes, decoded on demand), and,
   * with `rawJson`, JSON objects as a RawJson over their bytes: for a consumer that writes text as UTF-8
   * (ct-load's COPY rows). Shorter cells (ids, dates, names) are strings as usual.
   */
  utf8Bytes?: boolean;
}

/** The shortest Utf8 cell (in bytes) that `utf8Bytes` hands over as bytes. */
export const UTF8_BYTES_MIN = 256;

/**
 * A Float32Array view that serializes as a JSON array (a plain Float32Array gives `{"0":…}`), so that
 * records holding one can still be written to a rejects file or a JSON column.
 */
export class Float32Vector extends Float32Array {
  toJSON(): number[] {
    return float32Values(this);
  }
}

function cellReader(field: Field, vector: Vector, opts: ReadOptions): CellReader {
  const isJson =
    field.metadata.get(META_ENCODING) === 'json' ||
    (field.metadata.get(META_EXTENSION) === 'arrow.json' &&
      [Type.Utf8, Type.LargeUtf8, Type.Utf8View].includes((field.type as DataType).typeId));
  const json = opts.rawJson ? rawOrParsed : JSON.parse;
  if (isJson && vector.data.length === 1 && vector.type.typeId === Type.Utf8) {
    const str = utf8Reader(vector.data[0]);
    if (opts.rawJson && opts.utf8Bytes) {
      const bytes = utf8Bytes(vector.data[0]);
      return (row) => {
        if (!vector.isValid(row)) return null;
        const b = bytes(row);
        return startsObject(b) ? new RawJson(b) : JSON.parse(str(row));
      };
    }
    return (row) => (vector.isValid(row) ? json(str(row)) : null);
  }
  if (isJson) {
    return (row) => {
      const v = vector.get(row);
      return v == null ? null : json(v as string);
    };
  }
  const t = field.type as DataType;
  if (t.typeId === Type.Utf8 && vector.data.length === 1) {
    const str = utf8Reader(vector.data[0]);
    if (opts.utf8Bytes) {
      const d = vector.data[0];
      const offsets = d.valueOffsets as Int32Array;
      const bytes = utf8Bytes(d);
      return (row) => {
        if (!vector.isValid(row)) return null;
        return offsets[row + 1] - offsets[row] >= UTF8_BYTES_MIN ? new Utf8Text(bytes(row)) : str(row);
      };
    }
    return (row) => (vector.isValid(row) ? str(row) : null);
  }
  if (t.typeId === Type.List && vector.data.length === 1 && vector.data[0].children[0].typeId === Type.Utf8) {
    const d = vector.data[0];
    const offsets = d.valueOffsets as Int32Array;
    const child = d.children[0];
    const str = utf8Reader(child);
    return (row) => {
      if (!vector.isValid(row)) return null;
      const out: (string | null)[] = [];
      for (let i = offsets[row]; i < offsets[row + 1]; i++) out.push(child.getValid(i) ? str(i) : null);
      return out;
    };
  }
  if (t.typeId === Type.FixedSizeList && vector.data.length === 1) {
    const d = vector.data[0];
    const child = d.children[0];
    const childType = child.type as DataType;
    if (childType.typeId === Type.Float) {
      const dim = (t as FixedSizeList).listSize;
      const values = child.values as Float32Array | Float64Array;
      const base = d.offset * dim + child.offset;
      if (opts.float32Vectors && values instanceof Float32Array) {
        const buffer = values.buffer as ArrayBuffer;
        const { byteOffset } = values;
        return (row) => (vector.isValid(row) ? new Float32Vector(buffer, byteOffset + (base + row * dim) * 4, dim) : null);
      }
      const list = values instanceof Float32Array ? float32Values : (a: Float64Array) => Array.from(a);
      return (row) => {
        if (!vector.isValid(row)) return null;
        const s = base + row * dim;
        return list(values.subarray(s, s + dim) as Float32Array & Float64Array);
      };
    }
  }
  const conv = plainConverter(t);
  return (row) => {
    const v = vector.get(row);
    return v === null || v === undefined ? null : conv(v);
  };
}

/** `rawJson`: an object's JSON text as a RawJson, any other JSON value parsed. */
const rawOrParsed = (text: string): unknown => (/^[ \t\n\r]*\{/.test(text) ? new RawJson(text) : JSON.parse(text));

/** Does this JSON text (UTF-8) start with `{` after white space? */
function startsObject(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x7b) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return false;
}

/** The cells of a Utf8 column as views of their bytes (no copy). */
function utf8Bytes(d: Data): (i: number) => Uint8Array {
  const offsets = d.valueOffsets as Int32Array;
  const values = d.values as Uint8Array;
  return (i) => values.subarray(offsets[i], offsets[i + 1]);
}

/**
 * The strings of a Utf8 column, decoded from its bytes by Buffer: per short string 0.10 µs against 0.17 µs
 * for the TextDecoder behind Arrow's `get`, and no view object per value.
 */
function utf8Reader(d: Data): (i: number) => string {
  const offsets = d.valueOffsets as Int32Array;
  const values = d.values as Uint8Array;
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return (i) => bytes.toString('utf8', offsets[i], offsets[i + 1]);
}

type Conv = (v: unknown) => unknown;
const same: Conv = (v) => v;

const MS_PER_DAY = 86_400_000;
const asMs = (v: unknown): number => (v instanceof Date ? v.getTime() : typeof v === 'bigint' ? Number(v) : (v as number));

/** An Int64/UInt64 value: a number when exact (|v| ≤ 2^53 − 1), else its decimal digits as a string. */
const int64: Conv = (v) => {
  if (typeof v !== 'bigint') return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v.toString();
};

/**
 * How a non-null Arrow value of type `t` (as apache-arrow's `get` returns it) becomes a plain JSON value,
 * for Arrow written by any implementation: Struct and Map → objects (a struct's null fields are left out:
 * a struct cannot tell an absent key from a null, and writers such as polars fill absent keys with null),
 * 64-bit integers → numbers (beyond 2^53 → strings), lists of any layout → arrays, Date32/Date64 →
 * `YYYY-MM-DD`, Timestamp → ISO 8601, binary → base64, dictionary values → their values.
 */
export function plainConverter(t: DataType): Conv {
  switch (t.typeId) {
    case Type.Struct: {
      const kids = (t as Struct).children.map((f) => [f.name, plainConverter(f.type)] as const);
      return (v) => {
        const row = v as Record<string, unknown>;
        const o: Rec = {};
        for (const [name, conv] of kids) {
          const x = row[name];
          if (x !== null && x !== undefined) o[name] = conv(x);
        }
        return o;
      };
    }
    case Type.Map: {
      const entry = t.children[0].type as Struct;
      const key = plainConverter(entry.children[0].type);
      const val = plainConverter(entry.children[1].type);
      return (v) => {
        const o: Rec = {};
        for (const [k, x] of v as Iterable<[unknown, unknown]>) o[String(key(k))] = x == null ? null : val(x);
        return o;
      };
    }
    case Type.List:
    case Type.FixedSizeList:
    case Type.LargeList: {
      const child = t.children[0]?.type as DataType | undefined;
      const conv = child ? plainConverter(child) : same;
      return (v) => Array.from(v as Iterable<unknown>, (x) => (x == null ? null : conv(x)));
    }
    case Type.Int:
      return (t as unknown as { bitWidth: number }).bitWidth === 64 ? int64 : same;
    case Type.Float:
      return (t as Float).precision === Precision.SINGLE ? (v) => float32Value(v as number) : same;
    case Type.Date:
      return (v) => new Date(asMs(v)).toISOString().slice(0, 10);
    case Type.Timestamp:
      return (v) => new Date(asMs(v)).toISOString();
    case Type.Time:
    case Type.Duration:
    case Type.Interval:
    case Type.Decimal:
      return (v) => (typeof v === 'bigint' ? int64(v) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v);
    case Type.Binary:
    case Type.LargeBinary:
    case Type.FixedSizeBinary:
    case Type.BinaryView:
      return (v) => Buffer.from(v as Uint8Array).toString('base64');
    case Type.Dictionary:
      return plainConverter((t as unknown as { dictionary: DataType }).dictionary);
    case Type.Union:
      return (v) => toPlain(v);
    default:
      return (v) => (typeof v === 'bigint' ? int64(v) : v);
  }
}

/** Last resort for values whose type says nothing more (union members). */
function toPlain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return int64(v);
  if (typeof v !== 'object') return v;
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  const anyV = v as { toJSON?: () => unknown };
  if (typeof anyV.toJSON === 'function') return JSON.parse(JSON.stringify(anyV.toJSON(), (_k, x) => (typeof x === 'bigint' ? int64(x) : x)));
  return v;
}

/**
 * Record batch → plain records, restoring JSON columns and merging the extra column back.
 * Vectors are `number[]` unless `opts.float32Vectors` asks for views (see ReadOptions).
 */
export function* batchToRecords(batch: RecordBatch, opts: ReadOptions = {}): Generator<Rec> {
  // Parquet readers may drop the schema's metadata: the marked column's own name (and its JSON mark) also tell.
  const extraName =
    batch.schema.metadata.get(META_EXTRA) ??
    (batch.schema.fields.some((f) => f.name === EXTRA_COLUMN && f.metadata.get(META_ENCODING) === 'json') ? EXTRA_COLUMN : undefined);
  const readers: [string, CellReader][] = [];
  let extraReader: CellReader | undefined;
  batch.schema.fields.forEach((field, i) => {
    const vec = batch.getChildAt(i)!;
    if (extraName !== undefined && field.name === extraName) {
      extraReader = cellReader(field, vec, { ...opts, rawJson: false }); // marked as JSON; read here, so parsed
    } else {
      readers.push([field.name, cellReader(field, vec, opts)]);
    }
  });
  for (let row = 0; row < batch.numRows; row++) {
    const rec: Rec = {};
    for (const [name, read] of readers) rec[name] = read(row);
    const extra = extraReader?.(row) as { f?: Rec; a?: string[]; o?: string[] } | null | undefined;
    if (extra) {
      for (const k of extra.a ?? []) delete rec[k];
      if (extra.f) Object.assign(rec, extra.f);
      if (extra.o) {
        yield Object.fromEntries(extra.o.map((k) => [k, rec[k]]));
        continue;
      }
    }
    yield rec;
  }
}

/** Rough in-memory size of a value, to cut Arrow batches by bytes as well as by rows. */
export function approxSize(v: unknown, depth = 0): number {
  if (v === null || v === undefined) return 4;
  switch (typeof v) {
    case 'string':
      return v.length + 2;
    case 'number':
    case 'boolean':
      return 8;
    case 'object': {
      if (ArrayBuffer.isView(v)) return (v as unknown as { byteLength: number }).byteLength;
      if (v instanceof RawJson) return v.size;
      if (v instanceof Utf8Text) return v.utf8.byteLength;
      if (depth > 6) return 64;
      let n = 2;
      if (Array.isArray(v)) for (const x of v) n += approxSize(x, depth + 1) + 1;
      else for (const [k, x] of Object.entries(v)) n += k.length + approxSize(x, depth + 1) + 4;
      return n;
    }
    default:
      return 8;
  }
}

/** Collects the bytes the Arrow writer produces, so the caller can write them with backpressure. */
class ChunkQueue extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: ArrayBufferView | Uint8Array | ArrayBufferLike): void {
    const u8 = value instanceof Uint8Array ? value : new Uint8Array((value as ArrayBufferView).buffer ?? value);
    if (u8.byteLength > 0) this.chunks.push(u8);
  }
  take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
}

/** How record batches are laid out in bytes: the IPC stream format, or the IPC file format (magic + footer). */
export type ArrowContainer = 'stream' | 'file';

/** A file named `.arrows` holds the stream format; any other file the file format (what file readers expect). */
export const containerForPath = (path: string): ArrowContainer => (/\.arrows$/i.test(path) ? 'stream' : 'file');

/**
 * apache-arrow's file writer keeps the schema only in the footer. The format allows (and pyarrow writes) the
 * schema message after the leading magic too, as in a stream: with it, a file cut short before its footer
 * (a killed run's FILE.partial) is still readable as a stream up to its last complete batch.
 */
class FileWriterWithSchema extends RecordBatchFileWriter {
  protected override _writeSchema(schema: Schema): this {
    super._writeSchema(schema);
    return (RecordBatchWriter.prototype as unknown as { _writeSchema(this: unknown, s: Schema): unknown })._writeSchema.call(this, schema) as this;
  }
}

/** Serializes record batches of one schema into IPC stream or file bytes. */
export class IpcWriter {
  private readonly queue = new ChunkQueue();
  private readonly writer: RecordBatchStreamWriter | RecordBatchFileWriter;
  private started = false;

  constructor(readonly container: ArrowContainer) {
    this.writer =
      container === 'file' ? new FileWriterWithSchema({ autoDestroy: false }) : new RecordBatchStreamWriter({ autoDestroy: false });
    this.writer.reset(this.queue as never);
  }

  write(batch: RecordBatch): Buffer {
    this.started = true;
    this.writer.write(batch);
    return this.queue.take();
  }

  /** The end-of-stream marker, or the file footer and closing magic. */
  finish(schema: Schema): Buffer {
    if (!this.started) this.writer.reset(this.queue as never, schema); // no batches: the schema alone
    this.writer.finish();
    return this.queue.take();
  }
}

export interface BatcherOptions {
  /** Rows per batch at most (1024). */
  maxRows?: number;
  /** Approximate bytes per batch at most (8 MB). */
  maxBytes?: number;
  /**
   * The column types come from the records seen before the first batch is written: up to this many rows
   * (10,000) or bytes (16 MB), unless a flush comes first. A larger peek means fewer values that only the
   * extra column can carry (see the module comment).
   */
  peekRows?: number;
  peekBytes?: number;
}

/** Records → record batches of one schema, chosen from a peek at the first records. */
export class ArrowBatcher {
  private pending: Rec[] = [];
  private pendingBytes = 0;
  private cols: Column[] | undefined;
  schema: Schema | undefined;
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly peekRows: number;
  private readonly peekBytes: number;

  constructor(opts: BatcherOptions = {}) {
    this.maxRows = opts.maxRows ?? 1024;
    this.maxBytes = opts.maxBytes ?? 8 << 20;
    this.peekRows = Math.max(this.maxRows, opts.peekRows ?? 10_000);
    this.peekBytes = Math.max(this.maxBytes, opts.peekBytes ?? 16 << 20);
  }

  /** Completed batches, if any. */
  push(rec: Rec): RecordBatch[] {
    this.pending.push(rec);
    this.pendingBytes += approxSize(rec);
    if (this.schema) {
      return this.pending.length >= this.maxRows || this.pendingBytes >= this.maxBytes ? this.flush() : [];
    }
    return this.pending.length >= this.peekRows || this.pendingBytes >= this.peekBytes ? this.flush() : [];
  }

  /** Every pending record as batches now (the schema is fixed from them if it was not yet). */
  flush(): RecordBatch[] {
    if (this.pending.length === 0) return [];
    if (!this.cols) {
      this.cols = inferColumns(this.pending);
      this.schema = schemaFor(this.cols);
    }
    const out: RecordBatch[] = [];
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < this.pending.length; i++) {
      bytes += approxSize(this.pending[i]);
      if (i + 1 - start >= this.maxRows || bytes >= this.maxBytes || i === this.pending.length - 1) {
        out.push(recordsToBatch(this.schema!, this.cols, this.pending.slice(start, i + 1)));
        start = i + 1;
        bytes = 0;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }

  /** The schema to close an output with: the records' own, or (no records at all) only the extra column. */
  finalSchema(): Schema {
    if (!this.schema) {
      this.cols = [];
      this.schema = schemaFor([]);
    }
    return this.schema;
  }
}

/**
 * Records → Arrow IPC bytes (stream or file format), batch by batch. `push` returns bytes whenever
 * batches are complete; `end` returns the rest and the end-of-stream marker or the file footer.
 */
export class ArrowEncoder {
  private readonly batcher: ArrowBatcher;
  private readonly writer: IpcWriter;

  constructor(maxRows = 1024, maxBytes = 8 << 20, opts: { container?: ArrowContainer; peekRows?: number } = {}) {
    this.batcher = new ArrowBatcher({ maxRows, maxBytes, peekRows: opts.peekRows });
    this.writer = new IpcWriter(opts.container ?? 'stream');
  }

  private bytes(batches: RecordBatch[]): Buffer {
    return Buffer.concat(batches.map((b) => this.writer.write(b)));
  }

  push(rec: Rec): Buffer | undefined {
    const batches = this.batcher.push(rec);
    return batches.length ? this.bytes(batches) : undefined;
  }

  /** Encode the pending records now; returns the bytes produced (empty when nothing pending). */
  flush(): Buffer {
    return this.bytes(this.batcher.flush());
  }

  end(): Buffer {
    const last = this.flush();
    return Buffer.concat([last, this.writer.finish(this.batcher.finalSchema())]);
  }
}
