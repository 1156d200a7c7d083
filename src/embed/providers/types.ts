/** What ct-embed needs from an embedding provider. */

export interface Provider {
  /** `openai` or `hash`: the first part of the cache namespace and of `embedding_model`. */
  readonly name: string;
  readonly model: string;
  readonly dims: number;
  /**
   * A server other than the provider's default (an OpenAI-compatible server: its base URL's host:port), so
   * that `embedding_model` tells its vectors from OpenAI's. Never a secret: no user, password or query.
   */
  readonly server?: string;
  /** What the cache keys on besides provider, model and dimensions: the non-default base URL, redacted. */
  readonly cacheScope?: string;
  /** True for a paid remote service: inputs are token-counted, truncated, batched by tokens, cached and priced. */
  readonly remote: boolean;
  /** One vector per text, in order, each `dims` long. Remote providers throw ProviderError. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

/**
 * `openai/text-embedding-3-small@1536`, or with a non-default server `openai@localhost:8080/bge-small@384`:
 * what each output record carries so loaders never mix models (or servers).
 */
export function modelLabel(p: Pick<Provider, 'name' | 'model' | 'dims' | 'server'>): string {
  return `${p.name}${p.server ? `@${p.server}` : ''}/${p.model}@${p.dims}`;
}

/**
 * A failed request, classified for the retry loop: `retry` (429, 5xx, timeouts, resets), `reject` (the
 * request itself is bad, e.g. 400: retrying will not help, the records go to --rejects), `fatal` (401/403/404,
 * quota: nothing will work, stop the run), `bad-answer` (the server answered, but not one vector per input:
 * retried like `retry`, and when the retries run out the run stops naming the batch: never a null vector).
 */
export class ProviderError extends Error {
  override name = 'ProviderError';
  /** No answer at all: the connection failed (reset, refused, DNS …). Never a record's fault. */
  connection = false;
  /** The server was never reached (DNS, refused, unreachable): fast-fail before its first answer. */
  unreachable = false;
  constructor(
    message: string,
    readonly kind: 'retry' | 'reject' | 'fatal' | 'bad-answer',
    readonly status?: number,
    /** Server-given wait before the next request (Retry-After or x-ratelimit-reset-*), ms. */
    readonly retryAfterMs?: number,
    /** x-ratelimit-limit-tokens, when the server said it: a request above it can never pass. */
    readonly limitTokens?: number,
  ) {
    super(message);
  }
}
