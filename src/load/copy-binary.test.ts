import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COPY_HEADER, COPY_TRAILER, DimensionError, RowArena, RowEncoder, SlabPool, ValueError, adjacentRuns, copyBlobs, rowDigest, type EncoderColumn } from './copy-binary.js';
import { RawJson, Utf8Text } from '../io/rawjson.js';

const field = (hex: string) => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

test('the header is PGCOPY\\n\\377\\r\\n\\0 plus flags and extension length', () => {
  assert.equal(COPY_HEADER.toString('hex'), '5047434f50590aff0d0a00' + '00000000' + '00000000');
  assert.equal(COPY_TRAILER.toString('hex'), 'ffff');
});

test('a row: field count, then length-prefixed values in each type\'s binary form; NULL is length -1', () => {
  const enc = new RowEncoder([
    { name: 'id', type: 'text' },
    { name: 'n', type: 'int4' },
    { name: 'ok', type: 'bool' },
    { name: 'tags', type: 'text[]' },
    { name: 'j', type: 'jsonb' },
    { name: 'v', type: 'vector', dims: 2 },
    { name: 'none', type: 'text' },
  ]);
  const row = enc.encode(['é', 7, true, ['a', 'bc'], { k: 1 }, [1, -2], null]);
  const expected = Buffer.concat([
    field('0007'),
    field('00000002 c3a9'),
    field('00000004 00000007'),
    field('00000001 01'),
    // ndim 1, no nulls, element OID 25 (text), 2 elements from 1, then each element
    field('0000001f 00000001 00000000 00000019 00000002 00000001 00000001 61 00000002 6263'),
    Buffer.concat([field('00000008 01'), Buffer.from('{"k":1}')]),
    field('0000000c 0002 0000 3f800000 c0000000'),
    field('ffffffff'),
  ]);
  assert.equal(row.toString('hex'), expected.toString('hex'));
});

test('empty arrays, bigint, floats, timestamps and dates', () => {
  const enc = new RowEncoder([
    { name: 'a', type: 'text[]' },
    { name: 'b', type: 'int8' },
    { name: 'f', type: 'float8' },
    { name: 't', type: 'timestamptz' },
    { name: 'd', type: 'date' },
  ]);
  const row = enc.encode([[], 2 ** 40, 0.5, '2000-01-01T00:00:01Z', '2000-01-03']);
  assert.equal(
    row.toString('hex'),
    '0005' + '0000000c000000000000000000000019' + '00000008' + '0000010000000000' + '00000008' + '3fe0000000000000' +
      '00000008' + '00000000000f4240' + '00000004' + '00000002',
  );
});

test('dates as ClinicalTrials.gov gives them: month-only is the first of the month, year-only 1 January', () => {
  const enc = new RowEncoder([{ name: 'd', type: 'date' }]);
  const days = (v: unknown) => enc.encode([v]).readInt32BE(6);
  assert.equal(days('2000-01-03'), 2);
  assert.equal(days('2000-02'), 31);
  assert.equal(days('2001'), 366);
  assert.equal(days('1999-12-31T23:00:00Z'), -1);
  assert.throws(() => enc.encode(['2007-02-30']), /field "d": expected a date, got "2007-02-30" \(no such day\)/);
  assert.throws(() => enc.encode(['June 2007']), /field "d": expected a date YYYY-MM-DD \(or YYYY-MM\), got "June 2007"/);
});

test('jsonb: a string holding a JSON object or array is that value; other strings stay JSON strings', () => {
  const enc = new RowEncoder([{ name: 'j', type: 'jsonb' }]);
  const text = (v: unknown) => enc.encode([v]).subarray(2 + 4 + 1).toString();
  assert.equal(text('{"protocolSection":{"a":1}}'), '{"protocolSection":{"a":1}}');
  assert.equal(text(' [1,2]'), ' [1,2]');
  assert.equal(text('late'), '"late"');
  assert.equal(text('{not json'), '"{not json"');
  assert.equal(text({ k: 'v' }), '{"k":"v"}');
});

test('a value that does not fit names its column; a wrong vector length is a DimensionError', () => {
  const enc = new RowEncoder([{ name: 'n', type: 'int4' }, { name: 'v', type: 'vector', dims: 3 }]);
  assert.throws(() => enc.encode(['x', null]), (e: Error) => e instanceof ValueError && /field "n": expected an integer, got "x"/.test(e.message));
  assert.throws(() => enc.encode([1, [1, 2]]), (e: Error) => e instanceof DimensionError && (e as DimensionError).got === 2);
  assert.throws(() => enc.encode([1, [1, 'a', 3]]), /field "v": vector element 1 is not a finite number/);
  assert.equal(enc.encode([1, new Float32Array([1, 2, 3])]).length, 2 + 8 + 20);
});

test('PGlite blobs are complete COPY files bounded by rows and bytes', () => {
  const rows = Array.from({ length: 25 }, (_, i) => Buffer.alloc(100, i));
  const byRows = [...copyBlobs(rows, 10, 1 << 20)];
  assert.equal(byRows.length, 3);
  for (const b of byRows) {
    assert.ok(b.subarray(0, COPY_HEADER.length).equals(COPY_HEADER));
    assert.ok(b.subarray(-2).equals(COPY_TRAILER));
  }
  assert.deepEqual(byRows.map((b) => (b.length - COPY_HEADER.length - 2) / 100), [10, 10, 5]);
  const byBytes = [...copyBlobs(rows, 1000, 450)];
  assert.ok(byBytes.every((b) => b.length <= 450 + 100));
  assert.equal(byBytes.reduce((n, b) => n + (b.length - COPY_HEADER.length - 2) / 100, 0), 25);
  assert.deepEqual([...copyBlobs([])], []);
});

test('a Float32Array view (as Arrow input gives) encodes exactly like the same numbers in an array', () => {
  const enc = new RowEncoder([{ name: 'v', type: 'vector', dims: 3 }, { name: 'j', type: 'jsonb' }]);
  const backing = new Float32Array([9, 0.1, -2.5, 1e-7, 9]);
  const view = backing.subarray(1, 4);
  const asArray = Array.from(view);
  assert.equal(enc.encode([view, null]).toString('hex'), enc.encode([asArray, null]).toString('hex'));
  assert.throws(() => enc.encode([new Float32Array([1, NaN, 3]), null]), /field "v": vector element 1 is not a finite number/);
  assert.throws(() => enc.encode([new Float32Array(4), null]), DimensionError);
});

test('rows back to back in an arena go out as one run; slabs are reused once released', () => {
  const pool = new SlabPool(64);
  const arena = new RowArena(pool);
  const rows = [Buffer.from('aaaa'), Buffer.from('bb'), Buffer.alloc(60, 'c'), Buffer.from('dd')].map((r) => arena.add(r));
  assert.notEqual(rows[1].buffer, rows[2].buffer, 'the third row needed a second slab');
  const runs = [...adjacentRuns([rows[0], rows[1], rows[3], rows[2]])];
  assert.deepEqual(runs.map((r) => r.toString()), ['aaaabb', 'dd', 'c'.repeat(60)]);
  assert.equal(Buffer.concat([...adjacentRuns(rows)]).toString(), 'aaaabb' + 'c'.repeat(60) + 'dd');
  arena.release();
  const again = new RowArena(pool).add(Buffer.from('e'));
  assert.ok([rows[0].buffer, rows[2].buffer].includes(again.buffer), 'a released slab is reused');
});

test('NUL characters are removed from text, text[] and jsonb (and noted); lone surrogates in jsonb become U+FFFD', () => {
  const enc = new RowEncoder([{ name: 't', type: 'text' }, { name: 'a', type: 'text[]' }, { name: 'j', type: 'jsonb' }]);
  const textOf = (row: Buffer) => row.toString('utf8');
  const clean = enc.encode(['ab', ['c'], { k: 'v' }]);
  assert.equal(enc.nulCleaned, false);
  const t = enc.encode(['a\u0000b', null, null]);
  assert.equal(enc.nulCleaned, true);
  assert.ok(!t.includes(0x00, 6) && textOf(t).includes('ab'));
  enc.encode([null, ['c\u0000'], null]);
  assert.equal(enc.nulCleaned, true);
  const j = enc.encode([null, null, { k: 'x\u0000y', lit: '\\u0000', s: 'a\ud800b' }]);
  assert.equal(enc.nulCleaned, true);
  const json = textOf(j).slice(textOf(j).indexOf('{'));
  assert.deepEqual(JSON.parse(json), { k: 'xy', lit: '\\u0000', s: 'a\ufffdb' }, 'a literal backslash-u0000 stays');
  assert.equal(enc.encode(['ab', ['c'], { k: 'v' }]).equals(clean), true);
  assert.equal(enc.nulCleaned, false, 'reset per row');
});

test('RawJson: jsonb and text get its text as it is; text with escapes is normalised and cleaned like any value', () => {
  const enc = new RowEncoder([{ name: 'j', type: 'jsonb' }, { name: 't', type: 'text' }]);
  const fields = (row: Buffer) => {
    const j = row.readInt32BE(2);
    return { j: row.subarray(7, 6 + j).toString(), t: row.subarray(10 + j).toString() };
  };
  const spaced = '{"a": 1.50, "b" : [true]}';
  assert.deepEqual(fields(enc.encode([new RawJson(spaced), new RawJson(spaced)])), { j: spaced, t: spaced }, 'not re-serialized');
  assert.equal(enc.nulCleaned, false);
  const escaped = new RawJson('{"k":"x\\u0000y","lone":"a\\ud800b","pair":"\\ud83d\\ude00","lit":"\\\\u0000"}');
  assert.deepEqual(JSON.parse(fields(enc.encode([escaped, null])).j), { k: 'xy', lone: 'a\ufffdb', pair: '\u{1f600}', lit: '\\u0000' });
  assert.equal(enc.nulCleaned, true);
});

test('digest: one more field, a SHA-256 over the columns and the row; equal rows give equal digests, other columns others', () => {
  const cols: EncoderColumn[] = [{ name: 'id', type: 'text' }, { name: 'v', type: 'vector', dims: 2 }];
  const enc = new RowEncoder(cols, { digest: true });
  const row = enc.encode(['x', [1, 2]]);
  const plain = new RowEncoder(cols).encode(['x', [1, 2]]);
  assert.equal(row.readInt16BE(0), 3, 'three fields');
  assert.ok(row.subarray(2, row.length - 36).equals(plain.subarray(2)), 'the same fields first');
  assert.equal(row.readInt32BE(row.length - 36), 32);
  const digest = Buffer.from(rowDigest(row));
  assert.ok(rowDigest(enc.encode(['x', new Float32Array([1, 2])])).equals(digest), 'the same row from a Float32Array');
  assert.ok(!rowDigest(enc.encode(['x', [1, 3]])).equals(digest));
  const renamed = new RowEncoder([cols[0], { ...cols[1], name: 'w' }], { digest: true });
  assert.ok(!rowDigest(renamed.encode(['x', [1, 2]])).equals(digest), 'the same bytes in another column');
});

test('UTF-8 bytes (Utf8Text, RawJson over bytes, as Arrow input gives them) encode exactly like their strings', () => {
  const cols: EncoderColumn[] = [
    { name: 't', type: 'text' }, { name: 'j', type: 'jsonb' }, { name: 'n', type: 'int4' }, { name: 'd', type: 'date' }, { name: 'x', type: 'json' },
  ];
  const enc = new RowEncoder(cols, { digest: true });
  const u = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  const cases: Array<[string, string]> = [
    ['plain ü 😀 text', '{"a": 1.50, "b" : ["ü"]}'],
    ['with a NUL \u0000 inside', '{"k":"x\\u0000y","lone":"a\\ud800b","lit":"\\\\u0000"}'],
    ['', '{}'],
  ];
  for (const [text, json] of cases) {
    const asStrings = enc.encode([text, new RawJson(json), '42', '2024-05', new RawJson(json)]);
    const cleanedS = enc.nulCleaned;
    const asBytes = enc.encode([new Utf8Text(u(text)), new RawJson(u(json)), new Utf8Text(u('42')), new Utf8Text(u('2024-05')), new RawJson(u(json))]);
    assert.ok(asBytes.equals(asStrings), `same row for ${JSON.stringify(text)}`);
    assert.equal(enc.nulCleaned, cleanedS, 'NUL noted the same way');
  }
  // Not valid UTF-8 (a foreign writer's bytes): decoded, so the bad sequence becomes U+FFFD as a string would.
  const bad = new Uint8Array([0x61, 0xff, 0x62]);
  const fromBad = enc.encode([new Utf8Text(bad), null, null, null, null]);
  assert.ok(fromBad.equals(enc.encode([Buffer.from(bad).toString('utf8'), null, null, null, null])));
  assert.ok(fromBad.includes(Buffer.from('a\ufffdb')));
  assert.throws(() => enc.encode([null, null, new Utf8Text(u('4x')), null, null]), ValueError, 'a non-number in an integer column is refused as a string would be');
});
