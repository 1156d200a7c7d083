/**
 * One polite, fault-tolerant `GET {base}/studies` request: paced (`rate` requests per second, retries
 * included), with a per-request timeout, retried with full-jitter exponential backoff (or the server's
 * Retry-After) on the answers the live API gives under load — 403, 429, 5xx, timeouts, connection resets,
 * and a 200 whose body is an HTML page or cut-off JSON. A 400 is never retried: it becomes BadRequest with
 * the server's own plain-text message.
 */
import { RuntimeError } from '../io/errors.js';
import { FirstContact, hostOf, unreachableReason } from '../util/net.js';
import { RawJson } from '../io/rawjson.js';
import { splitStudiesPage } from './page.js';
import { Pacer, parseRetryAfter, retryDelay, sleep } from '../util/retry.js';

export type Study = Record<string, unknown>;

/** One page of `GET /studies` (ctg-oas-v2.yaml, PagedStudies). */
export interface StudiesPage {
  /** Parsed studies, or (cut from the body by splitStudiesPage) each study's JSON text, parsed when written. */
  studies: Array<Study | RawJson>;
  nextPageToken?: string;
  totalCount?: number;
}

/** The server rejected the request (HTTP 400); the message carries the server's text. exitCode 2 = usage error. */
export class BadRequest extends Error {
  override name = 'BadRequest';
  readonly exitCode = 2;
}

/** The server was never reached (DNS, refused, unreachable): fast-fail until it has answered once. */
class Unreachable extends Error {}

/** A failure worth another attempt, with the server's requested wait when it gave one. */
class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface RetryInfo {
  page: number;
  attempt: number;
  reason: string;
  delayMs: number;
}

export interface ClientOptions {
  baseUrl: string;
  /** Requests per second (retries included); 0 or Infinity = unpaced. */
  rate: number;
  timeoutMs: number;
  maxRetries: number;
  /** Backoff scale: the first retry waits up to this, doubling per retry, capped at maxDelayMs. */
  retryDelayMs: number;
  maxDelayMs?: number;
  userAgent?: string;
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
  /** The fetch to use (tests inject failures such as a DNS error). */
  fetch?: typeof fetch;
  /** The fast-fail rule for a server never reached (tests shorten it). */
  firstContact?: FirstContact;
  /** Aborts the request in flight and any wait (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

export class StudiesClient {
  /** HTTP requests sent (every attempt counts). */
  requests = 0;
  retries = 0;
  private readonly pacer: Pacer;
  private readonly endpoint: string;
  private readonly contact: FirstContact;

  constructor(private readonly opts: ClientOptions) {
    this.pacer = new Pacer(opts.rate);
    this.contact = opts.firstContact ?? new FirstContact();
    this.endpoint = `${opts.baseUrl.replace(/\/+$/, '')}/studies`;
  }

  /** Fetch one page; `page` (1-based) only names it in messages. Throws BadRequest or RuntimeError. */
  async list(query: Record<string, string>, page: number): Promise<StudiesPage> {
    const url = `${this.endpoint}?${new URLSearchParams(query)}`;
    const started = Date.now();
    let tries = 0;
    for (let attempt = 0; ; attempt++) {
      await this.pacer.wait(this.opts.signal);
      this.requests++;
      tries++;
      this.contact.attempt();
      try {
        return await this.attempt(url);
      } catch (err) {
        if (err instanceof Unreachable) {
          const quick = this.contact.onUnreachable();
          if (quick?.stop) {
            const secs = ((Date.now() - started) / 1000).toFixed(1);
            throw new RuntimeError(`${err.message} (${tries} ${tries > 1 ? 'attempts' : 'attempt'} in ${secs} s)`);
          }
          if (quick) {
            this.retries++;
            this.opts.onRetry?.({ page, attempt: tries, reason: err.message, delayMs: quick.waitMs });
            await sleep(quick.waitMs, this.opts.signal);
            attempt--; // quick retries before the first answer do not use up --max-retries
            continue;
          }
          err = new Transient(err.message);
        }
        if (!(err instanceof Transient)) throw err;
        if (attempt >= this.opts.maxRetries) {
          throw new RuntimeError(`page ${page}: giving up after ${attempt + 1} attempts (--max-retries ${this.opts.maxRetries}): ${err.message}`);
        }
        const delayMs = retryDelay(attempt, err.retryAfterMs, {
          baseMs: this.opts.retryDelayMs,
          maxMs: this.opts.maxDelayMs ?? 60_000,
          random: this.opts.random,
        });
        this.retries++;
        this.opts.onRetry?.({ page, attempt: attempt + 1, reason: err.message, delayMs });
        // The wait also holds back the pacer, so no other request slips in before the server's deadline.
        this.pacer.delayUntil(Date.now() + delayMs);
      }
    }
  }

  private async attempt(url: string): Promise<StudiesPage> {
    let status: number;
    let type: string;
    let body: string;
    let retryAfter: string | null;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const res = await (this.opts.fetch ?? fetch)(url, {
        headers: { accept: 'application/json', 'user-agent': this.opts.userAgent ?? 'ct-pipeline' },
        signal: this.opts.signal ? AbortSignal.any([timeout, this.opts.signal]) : timeout,
      });
      this.contact.answered();
      status = res.status;
      type = res.headers.get('content-type') ?? '';
      retryAfter = res.headers.get('retry-after');
      body = await res.text();
    } catch (err) {
      if (this.opts.signal?.aborted) throw this.opts.signal.reason;
      const unreachable = unreachableReason(err, hostOf(url));
      if (unreachable) throw new Unreachable(unreachable);
      throw new Transient(networkReason(err, this.opts.timeoutMs));
    }
    if (status === 400) throw new BadRequest(`GET /studies: HTTP 400: ${body.trim() || 'Bad Request'}`);
    if (status === 403 || status === 408 || status === 429 || status >= 500) {
      throw new Transient(`HTTP ${status}`, parseRetryAfter(retryAfter));
    }
    if (status !== 200) throw new RuntimeError(`GET ${url}: HTTP ${status}: ${firstLine(body)}`);
    if (/html/i.test(type) || /^\s*</.test(body)) throw new Transient('HTTP 200 with an HTML page instead of JSON');
    const split = splitStudiesPage(body);
    if (split === 'incomplete') throw new Transient(`HTTP 200 with incomplete JSON (${body.length} bytes)`);
    let page: unknown;
    if (split) {
      page = { ...split.meta, studies: split.studies };
    } else {
      try {
        page = JSON.parse(body);
      } catch {
        throw new Transient(`HTTP 200 with incomplete JSON (${body.length} bytes)`);
      }
    }
    if (!isStudiesPage(page)) throw new Transient('HTTP 200 without a `studies` array');
    return page;
  }
}

function isStudiesPage(v: unknown): v is StudiesPage {
  if (typeof v !== 'object' || v === null || !Array.isArray((v as StudiesPage).studies)) return false;
  const p = v as StudiesPage;
  return (
    p.studies.every((s) => s instanceof RawJson || (typeof s === 'object' && s !== null && !Array.isArray(s))) &&
    (p.nextPageToken === undefined || typeof p.nextPageToken === 'string')
  );
}

/** undici reports every network failure as `TypeError: fetch failed` with the real reason in `cause`. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no complete answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause;
  if (cause) return `network error: ${cause.code ?? cause.message ?? String(cause)}`;
  return `network error: ${e?.message ?? String(err)}`;
}

const firstLine = (s: string): string => s.trim().split('\n')[0]!.slice(0, 200);
