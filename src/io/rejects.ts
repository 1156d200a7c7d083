/**
 * Bad records: with `--rejects FILE` they go there as NDJSON `{where, line, reason, record}` and the
 * run goes on; without it the first one stops the run (DataError → `tool: stdin:42: reason`, exit 1).
 */
import { AtomicFile } from './atomic-file.js';
import { DataError } from './errors.js';
import type { InputItem } from './input.js';

export class Rejects {
  count = 0;
  private readonly file: AtomicFile | undefined;

  constructor(path?: string) {
    if (path) this.file = new AtomicFile(path);
  }

  /** Record a bad item, or throw when there is no rejects file. */
  reject(item: Pick<InputItem, 'where' | 'line'> & { value?: unknown; text?: string }, reason: string): void {
    if (!this.file) throw new DataError(item.where, reason);
    this.count++;
    const rec = { where: item.where, line: item.line, reason, record: item.value ?? item.text ?? null };
    this.file.write(Buffer.from(JSON.stringify(rec) + '\n'));
  }

  close(): void {
    this.file?.commit();
  }

  abandon(): void {
    this.file?.abandon();
  }
}
