/**
 * Adaptive concurrency (AIMD, as TCP does): halve the number of requests in flight on a 429, add one after a
 * round of successes, never above the configured maximum. p-limit does the queueing; its limit can change
 * while tasks wait.
 */
import pLimit, { type LimitFunction } from 'p-limit';

export class AdaptiveConcurrency {
  private readonly limit: LimitFunction;
  private successes = 0;
  private lastCut = 0;

  constructor(
    readonly max: number,
    private readonly now: () => number = Date.now,
  ) {
    this.limit = pLimit(max);
  }

  get current(): number {
    return this.limit.concurrency;
  }

  run<R>(fn: () => Promise<R>): Promise<R> {
    return this.limit(fn);
  }

  onSuccess(): void {
    if (this.current >= this.max) return;
    if (++this.successes >= this.current) {
      this.successes = 0;
      this.limit.concurrency = this.current + 1;
    }
  }

  /**
   * A 429 for a request started at `startedAt`. Requests that were already in flight when we last cut
   * belong to the same wave: one cut per wave, not one per rejected request.
   */
  onThrottle(startedAt: number): void {
    this.successes = 0;
    if (startedAt < this.lastCut) return;
    this.lastCut = this.now();
    this.limit.concurrency = Math.max(1, Math.floor(this.current / 2));
  }
}
