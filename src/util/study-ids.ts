/**
 * A set of study ids in about 8 bytes each: the ids of the form `NCT` + 8 digits (all of ClinicalTrials.gov's)
 * as their numbers in an open-addressing table, any other id in a plain Set. As a `Set<string>` (or a Map of
 * objects) the ids took ≈ 100–150 bytes each, which grew a run's memory with the number of studies
 * (≈ 60–90 MB for the registry's 581,000).
 */
export const NCT_FORM = /^NCT\d{8}$/;

export class StudyIdSet {
  private count = 0;
  /** NCT number + 1 per entry (0: empty); the length is a power of two, at least twice the count. */
  private table = new Int32Array(1024);
  private readonly other = new Set<string>();

  get size(): number {
    return this.count + this.other.size;
  }

  has(id: string): boolean {
    if (!NCT_FORM.test(id)) return this.other.has(id);
    return this.table[this.probe(Number(id.slice(3)) + 1)] !== 0;
  }

  /** Add an id; false if it was there already. */
  add(id: string): boolean {
    if (!NCT_FORM.test(id)) {
      if (this.other.has(id)) return false;
      this.other.add(id);
      return true;
    }
    const key = Number(id.slice(3)) + 1;
    let h = this.probe(key);
    if (this.table[h] !== 0) return false;
    if (2 * (this.count + 1) > this.table.length) {
      this.rehash(this.table.length * 2);
      h = this.probe(key);
    }
    this.table[h] = key;
    this.count++;
    return true;
  }

  /** The entry holding key, or the empty one where it would go. */
  private probe(key: number): number {
    const mask = this.table.length - 1;
    let h = hash(key) & mask;
    while (this.table[h] !== 0 && this.table[h] !== key) h = (h + 1) & mask;
    return h;
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    for (const key of old) if (key !== 0) this.table[this.probe(key)] = key;
  }
}

/** An integer hash (murmur3's finalizer): NCT numbers are dense, linear probing wants them spread. */
export function hash(k: number): number {
  k = Math.imul(k ^ (k >>> 16), 0x85ebca6b);
  k = Math.imul(k ^ (k >>> 13), 0xc2b2ae35);
  return (k ^ (k >>> 16)) >>> 0;
}
