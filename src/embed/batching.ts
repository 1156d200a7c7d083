/**
 * Cutting the texts to send into requests. The rule depends only on the input (never on timing), so
 * `--dry-run` counts exactly the requests a real run sends: a batch closes when it holds `maxInputs` texts,
 * when the next text would take it over `maxTokens`, or when it has been open for `maxSpan` records (cache
 * hits in between are held in the reorder buffer until the batch returns; the span keeps that buffer small).
 */

export interface BatchLimits {
  maxInputs: number;
  maxTokens: number;
  maxSpan: number;
}

/** OpenAI's request limits: 2048 inputs and 300,000 tokens per request. */
export const MAX_BATCH_INPUTS = 2048;
export const MAX_BATCH_TOKENS = 300_000;

export interface Batch<T> {
  items: T[];
  tokens: number[];
  totalTokens: number;
}

export class Batcher<T> {
  private open: Batch<T> = { items: [], tokens: [], totalTokens: 0 };
  private firstSeq = 0;

  constructor(
    private readonly limits: BatchLimits,
    private readonly onBatch: (batch: Batch<T>) => void,
  ) {}

  /** Add a text seen at record number `seq` (records counted from 1, hits included). */
  add(item: T, tokens: number, seq: number): void {
    if (this.open.items.length > 0 && this.open.totalTokens + tokens > this.limits.maxTokens) this.flush();
    if (this.open.items.length === 0) this.firstSeq = seq;
    this.open.items.push(item);
    this.open.tokens.push(tokens);
    this.open.totalTokens += tokens;
    if (this.open.items.length >= this.limits.maxInputs) this.flush();
  }

  /** Called after every record: closes the open batch once it spans `maxSpan` records. */
  tick(seq: number): void {
    if (this.open.items.length > 0 && seq - this.firstSeq + 1 >= this.limits.maxSpan) this.flush();
  }

  /** Close the open batch (at the end of input, or by the rules above). */
  flush(): void {
    if (this.open.items.length === 0) return;
    const batch = this.open;
    this.open = { items: [], tokens: [], totalTokens: 0 };
    this.onBatch(batch);
  }
}
