/** What ct-embed needs from an embedding provider. */

export interface Provider {
  /** `openai` or `hash`: the first part of the cache namespace and of `embedding_model`. */
  readonly name: string;
  readonly model: string;
  readonly dims: number;
  /** True for a paid remote service: inputs are token-counted, truncated, batched by tokens, cached and priced. */
  readonly remote: boolean;
  /** One vector per text, in order, each `dims` long. Remote providers throw ProviderError. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** `openai/text-embedding-3-small@1536`: what each output record carries so loaders never mix models. */
export function modelLabel(p: Pick<Provider, 'name' | 'model' | 'dims'>): string {
  return `${p.name}/${p.model}@${p.dims}`;
}

/**
 * A failed request, classified for the retry loop: `retry` (429, 5xx, timeouts, resets), `reject` (the
 * request itself is bad, e.g. 400: retrying will not help, the records go to --rejects), `fatal` (401/403/404,
 * quota: nothing will work, stop the run).
 */
export class ProviderError extends Error {
  override name = 'ProviderError';
  /** No answer at all: the connection failed (reset, refused, DNS …). Never a record's fault. */
  connection = false;
  /** The server was never reached (DNS, refused, unreachable): fast-fail before its first answer. */
  unreachable = false;
  constructor(
    message: string,
    readonly kind: 'retry' | 'reject' | 'fatal',
    readonly status?: number,
    /** Server-given wait before the next request (Retry-After or x-ratelimit-reset-*), ms. */
    readonly retryAfterMs?: number,
    /** x-ratelimit-limit-tokens, when the server said it: a request above it can never pass. */
    readonly limitTokens?: number,
  ) {
    super(message);
  }
}
