/**
 * `--dedupe latest` over a regular NDJSON file, in two passes instead of a spool. The first pass reads the
 * bytes and finds, on each line, the study's id (`protocolSection.identificationModule.nctId`) and last
 * update date (`lastUpdatePostDateStruct.date`) without parsing it; the second reads, parses and prepares
 * only each study's latest line, in first-seen order. Nothing is copied to disk, and lines superseded by a
 * later version of their study are never parsed (a superseded line that is not valid JSON is therefore not
 * reported; a latest one is, like any bad record).
 *
 * Keys are found as JSON text: `"key"` followed by `:`. In JSON text a quote inside a string is always
 * escaped, so such a match is always a real key. A file this first pass cannot vouch for (a line holding
 * an API page or an array of studies, a study with two identification modules, an id with escapes, a date
 * that is not `YYYY-MM[-DD]`) is left to the spool: `planLatest` returns undefined. The second pass checks
 * each line it uses against what the first found, so a file changed in between stops the run.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { RuntimeError } from './io/errors.js';
import { parseNdjsonLine, type InputItem } from './io/input.js';
import { checkInterrupted } from './io/signals.js';
import { hash, NCT_FORM } from './util/study-ids.js';

const key = (k: string) => Buffer.from(`"${k}"`);
const STUDIES = key('studies');
const ID_MODULE = key('identificationModule');
const NCT_ID = key('nctId');
const LAST_UPDATE = key('lastUpdatePostDateStruct');
const DATE = key('date');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/** What the first pass makes of one line. */
type Scan = { kind: 'blank' } | { kind: 'other' } | { kind: 'study'; id: string; date: number } | { kind: 'unsure' };

/** Offset just after `"key"` + white space + `:`, for the first such key at or after `from`; -1 if none. */
function findKey(line: Buffer, pat: Buffer, from = 0): number {
  for (let i = line.indexOf(pat, from); i !== -1; i = line.indexOf(pat, i + 1)) {
    let j = i + pat.length;
    while (j < line.length && isSpace(line[j])) j++;
    if (line[j] === COLON) {
      j++;
      while (j < line.length && isSpace(line[j])) j++;
      return j;
    }
  }
  return -1;
}

/** The string value starting at `at` (a quote), when it has no escapes; undefined otherwise. */
function plainString(line: Buffer, at: number): string | undefined {
  if (line[at] !== QUOTE) return undefined;
  const end = line.indexOf(QUOTE, at + 1);
  if (end === -1 || line.subarray(at + 1, end).includes(BACKSLASH)) return undefined;
  return line.toString('latin1', at + 1, end);
}

/** `YYYY-MM-DD` → YYYYMMDD, `YYYY-MM` → YYYYMM00 (so numbers order as the texts do); undefined otherwise. */
export function dateNumber(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(s);
  return m ? Number(m[1]) * 10000 + Number(m[2]) * 100 + (m[3] ? Number(m[3]) : 0) : undefined;
}

/** The text a date number came from (NO_DATE: none). */
const dateText = (n: number): string | null =>
  n === NO_DATE ? null : `${Math.floor(n / 10000)}-${String(Math.floor(n / 100) % 100).padStart(2, '0')}${n % 100 ? '-' + String(n % 100).padStart(2, '0') : ''}`;
const NO_DATE = -1;

/** The first pass over one line (without its newline; the file's first line may start with a BOM). */
export function scanLine(line: Buffer): Scan {
  let s = 0;
  if (line.length >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) s = 3;
  while (s < line.length && isSpace(line[s])) s++;
  if (s === line.length) return { kind: 'blank' };
  if (line[s] === 0x5b /* [ */) return { kind: 'unsure' }; // an array of studies
  if (line[s] !== 0x7b /* { */) return { kind: 'other' }; // not an object: a bad record for the second pass
  if (findKey(line, STUDIES) !== -1) return { kind: 'unsure' }; // an API page
  const mod = findKey(line, ID_MODULE);
  if (mod === -1) return { kind: 'other' };
  if (findKey(line, ID_MODULE, mod) !== -1) return { kind: 'unsure' };
  const idAt = findKey(line, NCT_ID, mod);
  if (idAt === -1) return { kind: 'other' };
  const id = plainString(line, idAt);
  if (id === undefined) return line[idAt] === QUOTE ? { kind: 'unsure' } : { kind: 'other' };
  let date = NO_DATE;
  const upd = findKey(line, LAST_UPDATE);
  if (upd !== -1) {
    if (findKey(line, LAST_UPDATE, upd) !== -1) return { kind: 'unsure' };
    if (line[upd] === 0x7b) {
      const end = line.indexOf(0x7d /* } */, upd);
      const struct = line.subarray(upd, end === -1 ? line.length : end);
      const at = findKey(struct, DATE);
      if (at !== -1) {
        const text = plainString(struct, at);
        const n = text === undefined ? undefined : dateNumber(text);
        if (n === undefined) return { kind: 'unsure' };
        date = n;
      }
    }
  }
  return { kind: 'study', id, date };
}

export interface LatestPlan {
  /** Lines superseded by a later version of their study (never read again). */
  readonly duplicates: number;
  /** Bytes of the file the second pass has reached, for progress. */
  readonly bytesRead: number;
  /** The second pass: each study's latest line, and every line that is not a study, in file order of first sight. */
  items(): AsyncGenerator<InputItem>;
}

const CHUNK = 8 << 20;

/**
 * The first pass over `path` (shown as `name`); undefined when the file must go through the spool instead.
 * Yields to the event loop between chunks, so a signal stops it.
 */
export async function planLatest(path: string, name: string): Promise<LatestPlan | undefined> {
  const slots = new LatestSlots();
  let duplicates = 0;
  const fd = openSync(path, 'r');
  const before = fstatSync(fd);
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let base = 0; // file offset of buf[0]
    let have = 0; // bytes in buf
    let line = 0;
    let eof = false;
    for (;;) {
      if (!eof) {
        if (have === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer
          buf.copy(bigger, 0, 0, have);
          buf = bigger;
        }
        const n = readSync(fd, buf, have, buf.length - have, base + have);
        if (n === 0) eof = true;
        have += n;
      }
      let start = 0;
      for (;;) {
        let nl = buf.subarray(0, have).indexOf(10, start);
        if (nl === -1) {
          if (!eof) break;
          if (start === have) break;
          nl = have; // the last line, without a newline
        }
        line++;
        const scan = scanLine(buf.subarray(start, nl));
        if (scan.kind === 'unsure') return undefined;
        if (scan.kind !== 'blank') {
          const prev = scan.kind === 'study' ? slots.find(scan.id) : -1;
          if (prev === -1) {
            slots.add(scan.kind === 'study' ? scan.id : undefined, base + start, nl - start, line, scan.kind === 'study' ? scan.date : NO_DATE);
          } else {
            duplicates++;
            if (scan.kind === 'study' && scan.date > slots.date[prev]!) slots.set(prev, base + start, nl - start, line, scan.date);
          }
        }
        start = nl + 1;
        if (nl === have) break;
      }
      if (eof && start >= have) break;
      // Keep the unfinished line at the front of the buffer.
      buf.copy(buf, 0, start, have);
      base += start;
      have -= start;
      await new Promise((r) => setImmediate(r));
      checkInterrupted();
    }
  } finally {
    closeSync(fd);
  }

  let reached = 0;
  return {
    duplicates,
    get bytesRead() {
      return reached;
    },
    async *items() {
      const fd2 = openSync(path, 'r');
      try {
        const now = fstatSync(fd2);
        if (now.size !== before.size || now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) throw changed(name, 1);
        let win = Buffer.allocUnsafe(CHUNK);
        let winStart = 0;
        let winLen = 0;
        const { off, len, lineNo, date: dates } = slots;
        for (let slot = 0; slot < slots.count; slot++) {
          checkInterrupted();
          const o = off[slot]!;
          const n = len[slot]!;
          let bytes: Buffer;
          if (o >= winStart && o + n <= winStart + winLen) {
            bytes = win.subarray(o - winStart, o - winStart + n);
          } else {
            // Reads are synchronous: let signals, timers and background flushes in at every refill.
            await new Promise((r) => setImmediate(r));
            checkInterrupted();
            if (n > win.length) win = Buffer.allocUnsafe(n);
            winStart = o;
            winLen = readSync(fd2, win, 0, win.length, o);
            if (winLen < n) throw changed(name, lineNo[slot]!);
            bytes = win.subarray(0, n);
          }
          reached = Math.max(reached, o + n);
          const at = lineNo[slot]!;
          const item = parseNdjsonLine(bytes.toString('utf8'), name, at, at === 1);
          if (!item) throw changed(name, at);
          const id = slots.id(slot);
          if (id !== undefined && item.error === undefined && !sameStudy(item.value, id, dateText(dates[slot]!))) {
            throw changed(name, at);
          }
          yield item;
        }
      } finally {
        closeSync(fd2);
      }
    },
  };
}

/** `NCT` and eight digits: such an id is kept as its number. */

/**
 * The first pass's slots (a study, or a line that is not one): where its chosen line is, its number and date,
 * and the study's id, in typed arrays, with an open-addressing table from NCT numbers to slots. Kept as
 * JavaScript arrays, a string per id and a Map, they took ≈ 150 bytes a slot (87 MB for the registry's
 * 581,000 studies, and they stay alive through the second pass); here 33 bytes. Ids of another form (rare)
 * go to a Map.
 */
export class LatestSlots {
  count = 0;
  off = new Float64Array(1024);
  len = new Int32Array(1024);
  lineNo = new Int32Array(1024);
  date = new Int32Array(1024);
  /** The NCT number, -1 for another id (see `other`), -2 for no id (a line that is not a study). */
  private nct = new Int32Array(1024);
  /** Slot + 1 per entry (0: empty), by NCT number. */
  private table = new Int32Array(2048);
  private readonly otherSlot = new Map<string, number>();
  private readonly otherId = new Map<number, string>();

  /** The slot of a study id, or -1. */
  find(id: string): number {
    if (!NCT_FORM.test(id)) return this.otherSlot.get(id) ?? -1;
    const key = Number(id.slice(3));
    const mask = this.table.length - 1;
    for (let h = hash(key) & mask; ; h = (h + 1) & mask) {
      const e = this.table[h]!;
      if (e === 0) return -1;
      if (this.nct[e - 1] === key) return e - 1;
    }
  }

  add(id: string | undefined, off: number, len: number, lineNo: number, date: number): void {
    if (this.count === this.off.length) this.grow();
    if (2 * (this.count + 1) > this.table.length) this.rehash(this.table.length * 2);
    const slot = this.count++;
    this.set(slot, off, len, lineNo, date);
    if (id === undefined) this.nct[slot] = -2;
    else if (!NCT_FORM.test(id)) {
      this.nct[slot] = -1;
      this.otherSlot.set(id, slot);
      this.otherId.set(slot, id);
    } else {
      const key = Number(id.slice(3));
      this.nct[slot] = key;
      this.insert(key, slot);
    }
  }

  set(slot: number, off: number, len: number, lineNo: number, date: number): void {
    this.off[slot] = off;
    this.len[slot] = len;
    this.lineNo[slot] = lineNo;
    this.date[slot] = date;
  }

  /** The study id of a slot (undefined: a line that is not a study). */
  id(slot: number): string | undefined {
    const k = this.nct[slot]!;
    if (k === -2) return undefined;
    if (k === -1) return this.otherId.get(slot);
    return 'NCT' + String(k).padStart(8, '0');
  }

  private insert(key: number, slot: number): void {
    const mask = this.table.length - 1;
    let h = hash(key) & mask;
    while (this.table[h] !== 0) h = (h + 1) & mask;
    this.table[h] = slot + 1;
  }

  private grow(): void {
    const n = this.off.length * 2;
    const wider = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.off = wider(this.off);
    this.len = wider(this.len);
    this.lineNo = wider(this.lineNo);
    this.date = wider(this.date);
    this.nct = wider(this.nct);
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    for (let slot = 0; slot < this.count; slot++) if (this.nct[slot]! >= 0) this.insert(this.nct[slot]!, slot);
  }
}

function sameStudy(v: unknown, id: string, date: string | null): boolean {
  const ps = (v as { protocolSection?: { identificationModule?: { nctId?: unknown }; statusModule?: { lastUpdatePostDateStruct?: { date?: unknown } } } })?.protocolSection;
  const d = ps?.statusModule?.lastUpdatePostDateStruct?.date;
  return ps?.identificationModule?.nctId === id && (typeof d === 'string' && d.length > 0 ? d : null) === date;
}

const changed = (name: string, line: number) =>
  new RuntimeError(`${name}:${line}: the file changed while it was read (--dedupe latest reads a file twice: first for each study's latest version); run again on a finished file, or use --dedupe first`);
