/**
 * Network trouble in words, shared by ct-fetch, ct-embed and ct-load: which failures mean "the server was
 * never reached" (a name that does not resolve, a refused or unreachable address), how to say so with the
 * host and the cause, and the fast-fail rule: until a server has answered once, such failures get a few
 * quick retries (about 10 s in all) and then stop the run; once it has answered, the tool's patient retry
 * policy applies.
 */
import { UsageError } from '../io/errors.js';
import { redactUrl } from '../io/redact.js';

/** Check an http(s) URL option; a malformed one is a usage error naming where it came from (`--base-url`, `CT_API_URL`). */
export function checkHttpUrl(value: string, source: string): string {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw new UsageError(`${source}: not an http(s) URL: ${redactUrl(value)}`);
  }
  return value;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'EAI_ADDRFAMILY']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

interface NetErr {
  code?: string;
  hostname?: string;
  address?: string;
  port?: number;
  message?: string;
  cause?: unknown;
  errors?: unknown[];
}

/** The errno-style error at the bottom of an error chain (undici's `fetch failed` → cause, AggregateError → first). */
function rootCause(err: unknown): NetErr | undefined {
  let e = err as NetErr | undefined;
  for (let depth = 0; e && depth < 6; depth++) {
    if (typeof e.code === 'string' && (DNS_CODES.has(e.code) || UNREACHABLE_CODES.has(e.code) || e.code === 'ECONNREFUSED')) return e;
    if (Array.isArray(e.errors) && e.errors.length) e = e.errors.find((x) => (x as NetErr)?.code) as NetErr ?? (e.errors[0] as NetErr);
    else e = e.cause as NetErr | undefined;
  }
  return undefined;
}

/**
 * When `err` says the server was never reached, the cause in words with the host:
 * `cannot resolve clinicaltrials.gov (DNS: ENOTFOUND)`, `connection refused by 127.0.0.1:1`,
 * `cannot reach 10.0.0.1:443 (EHOSTUNREACH)`. Undefined for anything else (timeouts, resets, HTTP errors).
 * `host`/`port` name the target when the error itself does not.
 */
export function unreachableReason(err: unknown, target: { host?: string; port?: number | string } = {}): string | undefined {
  const e = rootCause(err);
  if (!e?.code) return undefined;
  const host = e.hostname ?? target.host ?? e.address ?? 'the server';
  const port = e.port ?? target.port;
  const addr = e.address ? `${e.address}${e.port ? `:${e.port}` : port ? `:${port}` : ''}` : `${host}${port ? `:${port}` : ''}`;
  if (DNS_CODES.has(e.code)) return `cannot resolve ${host} (DNS: ${e.code})`;
  if (e.code === 'ECONNREFUSED') return `connection refused by ${addr}`;
  return `cannot reach ${addr} (${e.code})`;
}

/** Host and port of a URL, for messages. */
export function hostOf(url: string | undefined, defaultHost?: string): { host?: string; port?: string } {
  if (!url) return { host: defaultHost, port: undefined };
  try {
    const u = new URL(url);
    return { host: u.hostname, port: u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : undefined) };
  } catch {
    return { host: defaultHost };
  }
}

export interface FirstContactOptions {
  /** Quick retries before giving up on a server never reached. */
  retries?: number;
  /** Give up once this long has passed since the first attempt, ms. */
  budgetMs?: number;
  /** Delay before quick retry n (0-based), ms. */
  delayMs?: (n: number) => number;
  now?: () => number;
}

/**
 * The fast-fail rule for servers never reached. `answered()` once any answer (even an HTTP error) came;
 * `quickRetry()` after an unreachable-kind failure returns the wait before the next quick retry, or
 * undefined when the run should stop now (budget used, or the server had answered before: then the
 * caller's patient policy decides).
 */
export class FirstContact {
  private reached = false;
  private started: number | undefined;
  private tries = 0;
  private readonly o: Required<FirstContactOptions>;

  constructor(o: FirstContactOptions = {}) {
    this.o = {
      retries: o.retries ?? 3,
      budgetMs: o.budgetMs ?? 8_000,
      delayMs: o.delayMs ?? ((n) => 500 * 2 ** n),
      now: o.now ?? Date.now,
    };
  }

  /** The server answered at least once. */
  get hasAnswered(): boolean {
    return this.reached;
  }

  answered(): void {
    this.reached = true;
  }

  /** Call when an attempt starts (the budget counts from the first). */
  attempt(): void {
    this.started ??= this.o.now();
  }

  /**
   * After an unreachable-kind failure: `{ stop: false, waitMs }` for another quick retry, `{ stop: true }`
   * to give up now; undefined when the server had answered before (use the patient policy).
   */
  onUnreachable(): { stop: true } | { stop: false; waitMs: number } | undefined {
    if (this.reached) return undefined;
    const waitMs = this.o.delayMs(this.tries);
    const elapsed = this.o.now() - (this.started ?? this.o.now());
    if (this.tries >= this.o.retries || elapsed + waitMs > this.o.budgetMs) return { stop: true };
    this.tries++;
    return { stop: false, waitMs };
  }
}
