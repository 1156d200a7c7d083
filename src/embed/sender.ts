/**
 * Sending one batch: budgets (--max-rpm, --max-tpm), adaptive concurrency, retries with the server's wait
 * or jittered backoff, and splitting a batch that can never pass as a whole (a 400 caused by one input, or a
 * request above the server's token budget). Returns a vector or a failure reason per text.
 */
import { RuntimeError } from '../io/errors.js';
import { tightenHeapGrowth } from '../io/heap.js';
import { FirstContact } from '../util/net.js';
import { backoffDelay, retryDelay, sleep, type Pacer } from '../util/retry.js';
import type { TokenBucket } from './budget.js';
import type { AdaptiveConcurrency } from './concurrency.js';
import { ProviderError, type Provider } from './providers/types.js';

export type Outcome = Float32Array | { error: string };

/** The server kept answering without one vector per input: the run stops (the records are not at fault). */
export class BadAnswerError extends RuntimeError {
  override name = 'BadAnswerError';
}

export interface SendStats {
  /** Requests started (retries included). */
  requests: number;
  retries: number;
  /** Texts and tokens in successful requests. */
  textsSent: number;
  tokensSent: number;
}

export interface SenderOptions {
  provider: Provider;
  concurrency: AdaptiveConcurrency;
  maxRetries: number;
  rpm?: Pacer;
  tpm?: TokenBucket;
  random?: () => number;
  /** Told about each retry (for --verbose style logging); never about successes. */
  onRetry?: (message: string, waitMs: number) => void;
  /** The fast-fail rule for a server never reached (tests shorten it). */
  firstContact?: FirstContact;
}

export class Sender {
  readonly stats: SendStats = { requests: 0, retries: 0, textsSent: 0, tokensSent: 0 };
  /** After a 429 every request waits until then, not only the one that was refused. */
  private resumeAt = 0;
  private readonly contact: FirstContact;
  private readonly startedAt = Date.now();

  constructor(private readonly o: SenderOptions) {
    this.contact = o.firstContact ?? new FirstContact();
  }

  async send(texts: string[], tokens: number[]): Promise<Outcome[]> {
    tightenHeapGrowth(); // the run now waits on the server: a smaller heap costs little (src/io/heap.ts)
    const total = tokens.reduce((a, b) => a + b, 0);
    const random = this.o.random ?? Math.random;
    for (let attempt = 0; ; attempt++) {
      let startedAt = 0;
      try {
        const vectors = await this.o.concurrency.run(async () => {
          for (let wait = this.resumeAt - Date.now(); wait > 0; wait = this.resumeAt - Date.now()) await sleep(wait);
          await this.o.rpm?.wait();
          await this.o.tpm?.take(total);
          startedAt = Date.now();
          this.stats.requests++;
          this.contact.attempt();
          return this.o.provider.embed(texts);
        });
        this.contact.answered();
        this.o.concurrency.onSuccess();
        this.stats.textsSent += texts.length;
        this.stats.tokensSent += total;
        return vectors;
      } catch (err) {
        if (!(err instanceof ProviderError)) throw err;
        if (!err.connection) this.contact.answered();
        if (err.kind === 'fatal') throw new RuntimeError(err.message);
        if (err.kind === 'bad-answer' && attempt >= this.o.maxRetries) {
          throw new BadAnswerError(`gave up after ${attempt + 1} attempts: ${err.message}`);
        }
        if (err.unreachable) {
          const quick = this.contact.onUnreachable();
          if (quick?.stop) throw new RuntimeError(`${err.message} (no answer in ${((Date.now() - this.startedAt) / 1000).toFixed(1)} s)`);
          if (quick) {
            this.stats.retries++;
            this.o.onRetry?.(err.message, quick.waitMs);
            await sleep(quick.waitMs);
            attempt--; // quick retries before the first answer do not use up --max-retries
            continue;
          }
        }
        // The server stopped answering: that is no record's fault, so the run stops instead of rejecting them.
        if (err.connection && attempt >= this.o.maxRetries) {
          throw new RuntimeError(`gave up after ${attempt + 1} attempts (--max-retries ${this.o.maxRetries}): ${err.message}`);
        }
        const tooBig = err.status === 429 && err.limitTokens !== undefined && total > err.limitTokens;
        if (texts.length > 1 && (err.kind === 'reject' || tooBig)) return this.split(texts, tokens);
        if (err.kind === 'reject' || tooBig || attempt >= this.o.maxRetries) {
          const why = err.kind === 'reject' || tooBig ? err.message : `gave up after ${attempt + 1} attempts: ${err.message}`;
          return texts.map(() => ({ error: why }));
        }
        this.stats.retries++;
        let wait: number;
        if (err.status === 429) {
          this.o.concurrency.onThrottle(startedAt);
          // The server's wait plus a little jitter, so the paused requests do not all return at once.
          const base = err.retryAfterMs ?? backoffDelay(attempt, { random });
          wait = base + Math.floor(random() * Math.min(1000, base / 4 + 25));
          this.resumeAt = Math.max(this.resumeAt, Date.now() + wait);
        } else {
          wait = retryDelay(attempt, err.retryAfterMs, { random });
        }
        this.o.onRetry?.(err.message, wait);
        await sleep(wait);
      }
    }
  }

  /** Send both halves on their own; only the inputs that are bad by themselves fail. */
  private async split(texts: string[], tokens: number[]): Promise<Outcome[]> {
    const mid = texts.length >> 1;
    const [a, b] = await Promise.all([
      this.send(texts.slice(0, mid), tokens.slice(0, mid)),
      this.send(texts.slice(mid), tokens.slice(mid)),
    ]);
    return a.concat(b);
  }
}
