/**
 * `--max-tpm`: a token bucket holding one minute's budget, refilled continuously (how OpenAI describes its
 * own limiter). A request takes its tokens before it starts and waits while the bucket is short; one larger
 * than the whole budget waits for a full bucket and then goes (the batcher keeps requests under the budget).
 */
import { sleep } from '../util/retry.js';

export class TokenBucket {
  private level: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.level = perMinute;
    this.last = now();
  }

  /** Milliseconds until `amount` tokens are available (0 = now); does not take them. */
  waitFor(amount: number): number {
    this.refill();
    const need = Math.min(amount, this.perMinute) - this.level;
    return need <= 0 ? 0 : Math.ceil((need * 60_000) / this.perMinute);
  }

  /** Take `amount` tokens, waiting as needed; callers are served in call order. */
  take(amount: number): Promise<void> {
    const turn = this.queue.then(async () => {
      for (let ms = this.waitFor(amount); ms > 0; ms = this.waitFor(amount)) await sleep(ms);
      this.level -= amount;
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private refill(): void {
    const t = this.now();
    this.level = Math.min(this.perMinute, this.level + ((t - this.last) * this.perMinute) / 60_000);
    this.last = t;
  }
}
