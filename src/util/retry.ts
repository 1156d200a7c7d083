// Retry building blocks shared by the network tools (ct-fetch, ct-embed): full-jitter exponential backoff,
// Retry-After parsing, an abortable sleep and a request pacer. Kept free of any HTTP client so each tool can
// decide for itself what is retryable.

export interface BackoffOptions {
  /** Delay cap for attempt 0; doubles per attempt. */
  baseMs?: number;
  /** Upper bound of the (pre-jitter) delay. */
  maxMs?: number;
  /** Source of randomness in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * Full-jitter exponential backoff ("Exponential Backoff And Jitter", AWS architecture blog): a uniform random
 * delay in [0, min(maxMs, baseMs * 2^attempt)). Jitter spreads clients that failed together so they do not
 * retry in lock-step. `attempt` counts from 0 (the first retry).
 */
export function backoffDelay(attempt: number, { baseMs = 500, maxMs = 30_000, random = Math.random }: BackoffOptions = {}): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * cap);
}

/**
 * Parses a Retry-After header (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date. Returns the wait in
 * milliseconds (never negative), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP-date always names a day or month; this keeps Date.parse's leniency ('-5' is a year) out.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The delay before retry number `attempt`: the server's Retry-After when given, else jittered backoff. */
export function retryDelay(attempt: number, retryAfterMs: number | undefined, opts: BackoffOptions & { maxRetryAfterMs?: number } = {}): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, opts.maxRetryAfterMs ?? 5 * 60_000);
  return backoffDelay(attempt, opts);
}

/** Resolves after `ms`; rejects with the signal's reason if aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Spaces calls at least `1000 / ratePerSecond` ms apart (start to start). `await pacer.wait()` before each
 * request; concurrent callers are queued in call order. A rate of Infinity or 0 disables pacing.
 */
export class Pacer {
  readonly intervalMs: number;
  private next = 0;

  constructor(ratePerSecond: number, private readonly now: () => number = Date.now) {
    this.intervalMs = ratePerSecond > 0 && Number.isFinite(ratePerSecond) ? 1000 / ratePerSecond : 0;
  }

  /** Claims the next start slot and returns how long to wait for it (ms). */
  reserve(): number {
    const now = this.now();
    const slot = Math.max(now, this.next);
    this.next = slot + this.intervalMs;
    return slot - now;
  }

  async wait(signal?: AbortSignal): Promise<void> {
    const ms = this.reserve();
    if (ms > 0) await sleep(ms, signal);
  }

  /** Pushes the next slot back, e.g. after a 429 so the following request also respects the server's wait. */
  delayUntil(time: number): void {
    this.next = Math.max(this.next, time);
  }
}

/**
 * Parses a Go-style duration as OpenAI sends in `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens`
 * ('20ms', '1.5s', '6m0s', '1h2m3.5s'). Returns milliseconds, or undefined when absent or unparseable.
 */
export function parseDurationMs(value: string | null | undefined): number | undefined {
  const text = value?.trim();
  if (!text || !/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/.test(text)) return undefined;
  const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g)) ms += Number(m[1]) * unitMs[m[2]!]!;
  return Math.round(ms);
}
